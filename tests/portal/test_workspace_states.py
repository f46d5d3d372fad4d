"""The portal's workspace states follow the hub, including a spawn that fails and is cleaned up.

The hub client (our own adapter) is replaced by a scripted one, so the hub's in-between
answers can be replayed in order: a failed spawn is first shown as stopping, the progress
endpoint says "not starting" (400) while the container is removed, then the failure.
"""

from __future__ import annotations

import pytest

from portal.hub.client import HubError
from portal.workspaces import services
from portal.workspaces.models import Workspace

State = Workspace.State
FAILED = {"progress": 100, "failed": True, "message": "Spawn failed: image not found"}


class ScriptedHub:
    """Answers ``user_get`` with ``servers`` and each progress call with the next answer."""

    def __init__(self, servers=None, progress=()):
        self.servers = servers or {}
        self.progress = list(progress)
        self.progress_calls = 0

    def user_get(self, name):
        return {"name": name, "servers": self.servers}

    def server_progress(self, user, server, *, timeout):
        self.progress_calls += 1
        answer = self.progress.pop(0) if len(self.progress) > 1 else self.progress[0]
        if isinstance(answer, HubError):
            raise answer
        return answer


@pytest.fixture
def scripted(monkeypatch):
    def install(**script):
        hub = ScriptedHub(**script)
        monkeypatch.setattr(services, "hub_client", lambda: hub)
        return hub

    return install


def _refreshed(workspace) -> Workspace:
    services.workspaces_refresh(workspaces=[workspace])
    return Workspace.objects.get(pk=workspace.pk)


def test_a_failing_spawn_being_cleaned_up_stays_starting_not_stopping(
    alice, workspace_of, scripted
):
    workspace = workspace_of(alice, state=State.STARTING)
    scripted(
        servers={"thesis": {"ready": False, "pending": "stop"}},
        progress=[HubError(400, "alice:thesis is not starting...")],
    )
    assert _refreshed(workspace).state == State.STARTING


def test_a_spawn_that_failed_is_recorded_with_the_hubs_message_on_read(
    alice, workspace_of, scripted
):
    workspace = workspace_of(alice, state=State.STARTING)
    scripted(progress=[FAILED])
    refreshed = _refreshed(workspace)
    assert (refreshed.state, refreshed.message) == (State.ERROR, FAILED["message"])


def test_a_server_the_hub_forgot_while_starting_is_stopped(alice, workspace_of, scripted):
    workspace = workspace_of(alice, state=State.STARTING)
    scripted(progress=[HubError(404, "Not Found")])
    assert _refreshed(workspace).state == State.STOPPED


@pytest.mark.parametrize(
    ("before", "server", "after"),
    [
        (State.STARTING, {"ready": True, "pending": None}, State.RUNNING),
        (State.STOPPED, {"ready": False, "pending": "spawn"}, State.STARTING),
        (State.RUNNING, {"ready": False, "pending": "stop"}, State.STOPPING),
        (State.RUNNING, None, State.STOPPED),
        (State.STOPPING, None, State.STOPPED),
        (State.ERROR, None, State.ERROR),
    ],
)
def test_states_follow_the_hubs_servers(alice, workspace_of, scripted, before, server, after):
    workspace = workspace_of(alice, state=before)
    scripted(servers={"thesis": server} if server else {})
    assert _refreshed(workspace).state == after


def test_the_follower_waits_out_the_cleanup_and_records_the_failure(alice, workspace_of, scripted):
    workspace = workspace_of(alice, state=State.STARTING)
    not_starting = HubError(400, "alice:thesis is not starting...")
    hub = scripted(progress=[not_starting, not_starting, FAILED])
    services.workspace_follow_spawn(workspace=workspace, patience=10)
    workspace.refresh_from_db()
    assert (workspace.state, workspace.message) == (State.ERROR, FAILED["message"])
    assert hub.progress_calls == 3


def test_the_follower_leaves_the_state_when_the_hub_never_tells(alice, workspace_of, scripted):
    workspace = workspace_of(alice, state=State.STARTING)
    scripted(progress=[HubError(400, "alice:thesis is not starting...")])
    services.workspace_follow_spawn(workspace=workspace, patience=0)
    workspace.refresh_from_db()
    assert workspace.state == State.STARTING


def test_states_are_kept_when_the_hub_is_down(alice, workspace_of):
    workspace = workspace_of(alice, state=State.RUNNING)
    assert _refreshed(workspace).state == State.RUNNING
