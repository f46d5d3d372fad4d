"""The scraper on a real stack: one bearer token (MLHUB_METRICS_TOKEN) reads the portal's
``/metrics`` and JupyterHub's own ``/hub/metrics`` at the public address; nothing else does."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from lib.polling import poll_until
from tests.hub_stack import METRICS_TOKEN

pytestmark = pytest.mark.hub
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def test_the_scraper_reads_the_portals_metrics(hub):
    response = requests.get(f"{hub.url}/metrics", headers=SCRAPER, timeout=10)
    assert response.status_code == 200, response.text[:300]
    found = families(response.text)
    assert {"mlhub_workspaces", "mlhub_workspace_starts", "mlhub_hub_api_errors"} <= found


def test_the_scraper_reads_the_hubs_metrics(hub):
    response = requests.get(f"{hub.url}/hub/metrics", headers=SCRAPER, timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert {"jupyterhub_running_servers", "jupyterhub_total_users"} <= families(response.text)


def test_an_admins_api_token_reads_the_portals_metrics(hub):
    assert hub.api().get(f"{hub.url}/metrics", timeout=10).status_code == 200


def test_without_the_token_neither_answers(hub):
    assert requests.get(f"{hub.url}/metrics", timeout=10).status_code == 401
    # The hub's own rule: its metrics need the read:metrics scope (a 403 from JupyterHub).
    assert requests.get(f"{hub.url}/hub/metrics", timeout=10).status_code == 403
    wrong = {"Authorization": f"Bearer {METRICS_TOKEN}x"}
    assert requests.get(f"{hub.url}/hub/metrics", headers=wrong, timeout=10).status_code == 403


def test_the_portals_own_hub_token_does_not_read_the_hubs_metrics(hub):
    portal = {"Authorization": f"token {hub.hub_token}"}
    assert requests.get(f"{hub.url}/hub/metrics", headers=portal, timeout=10).status_code == 403


def totals(hub) -> dict[str, float]:
    """The portal's counters summed over their labels, and the refusals by reason."""
    text = requests.get(f"{hub.url}/metrics", headers=SCRAPER, timeout=10).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            if key == "mlhub_workspace_starts_total":
                key += f"/{sample.labels['outcome']}"
            elif key == "mlhub_workspace_refusals_total":
                key += f"/{sample.labels['action']}/{sample.labels['reason']}"
            found[key] = found.get(key, 0) + sample.value
    return found


def test_a_real_start_and_a_refusal_are_counted(hub):
    hub.user_create("metrics-person", "metrics-pass-123")
    token = hub.token_for("metrics-person", "metrics-pass-123")
    before = totals(hub)
    base = f"{hub.url}/api/v1/workspaces/"
    created = hub.api(token).post(base, json={"name": "counted"}, timeout=30)
    assert created.status_code == 201, created.text
    hub.wait_for_state(token, created.json()["id"], "running")
    again = hub.api(token).post(base, json={"name": "counted"}, timeout=30)
    assert again.status_code == 409, again.text

    def counted() -> dict | None:
        after = totals(hub)
        return (
            after
            if after.get("mlhub_workspace_starts_total/running", 0)
            > before.get("mlhub_workspace_starts_total/running", 0)
            else None
        )

    try:
        after = poll_until(counted, timeout=15, what="the start counted")
        delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
        assert delta["mlhub_workspace_starts_total/running"] == 1
        assert delta["mlhub_workspace_start_duration_seconds_count"] == 1
        assert 0 < delta["mlhub_workspace_start_duration_seconds_sum"] < 90
        assert delta["mlhub_workspace_refusals_total/create/conflict"] == 1
        assert delta["mlhub_workspaces"] == 1  # one more row, whatever its state
    finally:
        deleted = hub.api(token).delete(f"{base}{created.json()['id']}/", timeout=30)
        assert deleted.status_code == 204
