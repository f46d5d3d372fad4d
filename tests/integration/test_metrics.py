"""The scraper on a real stack: one bearer token (MLHUB_METRICS_TOKEN) reads the portal's
``/metrics`` and JupyterHub's own ``/hub/metrics`` at the public address; nothing else does."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

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
