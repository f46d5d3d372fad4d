"""The hub reports states as they happen: the portal's rows follow what is done in the hub
itself, with no read of the portal asking the hub and no sync pass in between."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.hub

CAROL = ("carol-reports", "carol-pass-1234")


@pytest.fixture(scope="module")
def carol(hub):
    hub.user_create(*CAROL)
    return hub.token_for(*CAROL)


@pytest.fixture(scope="module")
def stopped_workspace(hub, carol):
    api = hub.api(carol)
    created = api.post(f"{hub.url}/api/v1/workspaces/", json={"name": "reported"}, timeout=30)
    assert created.status_code == 201, created.text
    hub.wait_for_state(carol, created.json()["id"], "running")
    stopped = api.post(f"{hub.url}/api/v1/workspaces/{created.json()['id']}/stop/", timeout=30)
    assert stopped.status_code == 200, stopped.text
    return hub.wait_for_state(carol, created.json()["id"], "stopped")


def hub_call(hub, method: str, path: str) -> requests.Response:
    return requests.request(
        method,
        f"{hub.hub_api}{path}",
        headers={"Authorization": f"token {hub.hub_token}"},
        json={},
        timeout=30,
    )


def server_pid(hub, server: str) -> int:
    """The process-mode server's pid, from the hub's own database (its spawner state)."""
    database = Path(hub.stack.environ["MLHUB_DATA_DIR"]) / "hub" / "jupyterhub.sqlite"
    with sqlite3.connect(database) as db:
        (state,) = db.execute("SELECT state FROM spawners WHERE name = ?", (server,)).fetchone()
    return json.loads(state)["pid"]


def test_a_start_and_a_stop_in_the_hub_reach_the_portal(hub, carol, stopped_workspace):
    name, workspace_id = carol_name(), stopped_workspace["id"]
    assert hub_call(hub, "POST", f"/users/{name}/servers/reported").status_code in (201, 202)
    running = hub.wait_for_state(carol, workspace_id, "running", timeout=60)
    assert running["stale"] is False
    # The hub's report did it (not a sync pass): the portal's access log shows it.
    portal_log = (hub.stack.log_dir / "portal.log").read_text()
    assert '"POST /api/v1/internal/hub-events/ HTTP/1.1" 200' in portal_log
    assert hub_call(hub, "DELETE", f"/users/{name}/servers/reported").status_code in (202, 204)
    hub.wait_for_state(carol, workspace_id, "stopped", timeout=30)


def test_a_server_killed_from_outside_is_reported_stopped_with_why(hub, carol, stopped_workspace):
    workspace_id = stopped_workspace["id"]
    api = hub.api(carol)
    assert api.post(f"{hub.url}/api/v1/workspaces/{workspace_id}/start/").status_code == 200
    hub.wait_for_state(carol, workspace_id, "running")
    os.kill(server_pid(hub, "reported"), signal.SIGKILL)
    # The hub's poll (every 2 s here) notices, stops it and reports.
    stopped = hub.wait_for_state(carol, workspace_id, "stopped", timeout=30)
    assert stopped["message"] == (
        "The workspace was killed (signal 9: out of memory, or from outside)"
    )
    assert api.post(f"{hub.url}/api/v1/workspaces/{workspace_id}/start/").status_code == 200
    hub.wait_for_state(carol, workspace_id, "running")


def carol_name() -> str:
    return CAROL[0]
