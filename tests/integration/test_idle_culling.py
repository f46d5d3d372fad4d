"""Idle culling on a real hub: a workspace nobody uses is stopped by the culler, and the
portal shows it stopped with why; a stop its owner asks for says nothing of the culler.

A stack of its own (the shared one runs without culling), with an idle limit of seconds.
"""

from __future__ import annotations

import re

import pytest

from lib.polling import poll_until
from tests.hub_stack import running_stack

pytestmark = pytest.mark.hub

IDLE_SECONDS = 8
DAVE = ("dave-idle", "dave-pass-1234")
CULLED = re.compile(
    r"Stopped by the idle culler: idle for (\d+) seconds "
    rf"\(the limit is {IDLE_SECONDS} seconds\); its files are kept"
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A stack of its own: it culls every workspace idle for 8 s, which would stop the
    shared stack's (tests/hub_stack.py) under the other tests."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-culling"),
        "process",
        hub_name="mlhc",
        extra={
            "MLHUB_CULL_IDLE_SECONDS": str(IDLE_SECONDS),
            "MLHUB_CULL_EVERY_SECONDS": "2",
        },
    )


@pytest.fixture(scope="module")
def dave(hub):
    hub.user_create(*DAVE)
    return hub.token_for(*DAVE)


def workspace_in(hub, token: str, workspace_id: int, *states: str, timeout: float) -> dict:
    """The workspace as the portal's API shows it, once it is in one of ``states``."""
    url = f"{hub.url}/api/v1/workspaces/{workspace_id}/"

    def shown() -> dict | None:
        body = hub.api(token).get(url, timeout=10).json()
        assert body["state"] != "error", f"{body}\n{hub.logs()}"
        return body if body["state"] in states else None

    try:
        return poll_until(shown, timeout=timeout, what=f"not {'/'.join(states)}", max_wait=0.25)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{hub.logs()}") from None


def create(hub, token: str, name: str) -> int:
    response = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": name}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_stop_the_owner_asks_for_is_not_called_a_cull(hub, dave):
    workspace_id = create(hub, dave, "busy")
    workspace_in(hub, dave, workspace_id, "running", timeout=30)
    # Stopped well inside the idle limit: the culler has not touched it.
    stopped = hub.api(dave).post(f"{hub.url}/api/v1/workspaces/{workspace_id}/stop/", timeout=30)
    assert stopped.status_code == 200, stopped.text
    # The hub answers the stop at once (202); the row turns stopped with its stop report.
    body = workspace_in(hub, dave, workspace_id, "stopped", timeout=20)
    assert body["message"] == ""


def test_an_idle_workspace_is_stopped_and_the_portal_says_why(hub, dave):
    workspace_id = create(hub, dave, "idle")
    # Nobody opens it: the culler stops it within the limit and one check (2 s) after it
    # came up. It may be stopped before a read ever sees it running.
    body = workspace_in(hub, dave, workspace_id, "stopped", timeout=IDLE_SECONDS + 30)
    match = CULLED.fullmatch(body["message"])
    assert match, body
    assert IDLE_SECONDS <= int(match[1]) < IDLE_SECONDS + 30
    # Stopped, not removed: it starts again.
    started = hub.api(dave).post(f"{hub.url}/api/v1/workspaces/{workspace_id}/start/", timeout=30)
    assert started.status_code == 200, started.text
    body = workspace_in(hub, dave, workspace_id, "starting", "running", timeout=20)
    assert body["message"] == ""
