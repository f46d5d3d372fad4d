"""The fair start queue on a real JupyterHub, its proxy, the portal and its task cluster: with
one start at a time, three creates by two people at once end running one after another, the
second person's first before the first person's second, and the API shows the line meanwhile.
What moves the line is the real path: the hub's report that a start ended, then the task
cluster's dispatcher."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.hub_stack import running_stack

pytestmark = pytest.mark.hub

ALICE = ("alice-queue", "alice-pass-1234")
BOB = ("bob-queue", "bob-pass-12345")


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory):
    """A process-mode stack that asks the hub for one start at a time."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-start-queue"),
        "process",
        extra={"MLHUB_START_CONCURRENCY": "1", "MLHUB_SERVER_POLL_SECONDS": "2"},
    )


def test_three_starts_by_two_people_run_in_the_fair_order(one_at_a_time):
    hub = one_at_a_time
    tokens = {}
    for name, password in (ALICE, BOB):
        hub.user_create(name, password)
        tokens[name] = hub.token_for(name, password)
    alice, bob = ALICE[0], BOB[0]
    made = {}
    for owner, workspace in ((alice, "first"), (alice, "second"), (bob, "only")):
        response = hub.api(tokens[owner]).post(
            f"{hub.url}/api/v1/workspaces/", json={"name": workspace}, timeout=30
        )
        assert response.status_code == 201, response.text
        made[workspace] = (owner, response.json())
    # Asked at once: alice's first. Waiting: bob's only (his first) before alice's second.
    assert made["first"][1]["queue_position"] is None
    assert made["second"][1]["queue_position"] == 1  # nobody else was waiting yet
    assert made["only"][1]["queue_position"] == 1
    assert made["only"][1]["queue_wait_seconds"] >= 0
    second = hub.api(tokens[alice]).get(f"{hub.url}/api/v1/workspaces/{made['second'][1]['id']}/")
    assert (second.json()["state"], second.json()["queue_position"]) in (
        ("starting", 2),  # bob's is still before it
        ("starting", 1),  # bob's was asked of the hub meanwhile
    )
    for owner, body in made.values():
        hub.wait_for_state(tokens[owner], body["id"], "running", timeout=120)

    def started_at(owner: str, workspace: str) -> datetime:
        return datetime.fromisoformat(hub.hub_user(owner)["servers"][workspace]["started"])

    order = sorted(made, key=lambda workspace: started_at(made[workspace][0], workspace))
    assert order == ["first", "only", "second"]
    for owner, body in made.values():
        shown = hub.api(tokens[owner]).get(f"{hub.url}/api/v1/workspaces/{body['id']}/").json()
        assert (shown["queue_position"], shown["queue_wait_seconds"]) == (None, None)
