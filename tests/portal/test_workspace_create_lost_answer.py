"""A create whose start the hub may have begun, its answer lost (the hub died while asked),
leaves nothing behind: the row is hidden at once and removed with the server, its container
and volume once the hub answers again (found by the soak, bench/soak.py: the row deleted at
once left them with nobody to remove them). A start that never reached the hub (refused)
changes nothing, as before.
"""

from __future__ import annotations

import pytest

from portal.hub.client import HubClient, HubError
from portal.workspaces import services
from portal.workspaces.models import Workspace
from tests.portal.one_shot_server import one_shot_server
from tests.portal.scripted_hub import ScriptedHub

LOST = "JupyterHub is not reachable: ConnectionError"


class DiesWhileStarting(ScriptedHub):
    """Takes the start, then dies before answering; answers a DELETE once back (``back``)."""

    def __init__(self, back: bool):
        super().__init__()
        self.back = back

    def _send(self, method, path, **kwargs):
        if method == "POST" and "/servers/" in path:
            self.paths.append((method, path))
            raise HubError(503, LOST, reachable=False)  # sent: the hub may have begun
        if method == "DELETE" and not self.back:
            self.paths.append((method, path))
            raise HubError(503, LOST, unsent=True, reachable=False)  # still down: refused
        return super()._send(method, path, **kwargs)


@pytest.fixture
def queued(monkeypatch):
    tasks = []
    monkeypatch.setattr(services, "async_task", lambda *a, **k: tasks.append(a))
    return tasks


def test_with_the_hub_still_down_the_workspace_is_deleted_when_it_answers(
    alice, hub_double, queued
):
    hub = hub_double(DiesWhileStarting(back=False))
    with pytest.raises(HubError):
        services.workspace_create(by=alice, name="lost")
    (kept,) = Workspace.objects.filter(owner=alice, name="lost")
    assert kept.deleting_since is not None and kept.message == services.DELETING
    assert queued == [("portal.workspaces.tasks.finish_deletes", [kept.pk])]
    assert ("DELETE", "/users/alice/servers/lost") in hub.paths
    # Hidden from its owner, its name taken until the hub has removed the server.
    assert not Workspace.objects.visible_to(alice).filter(name="lost").exists()
    with pytest.raises(services.ServiceError) as refused:
        services.workspace_create(by=alice, name="lost")
    assert refused.value.status == 409


def test_with_the_hub_back_at_once_the_server_is_removed_and_the_row_goes(
    alice, hub_double, queued
):
    hub = hub_double(DiesWhileStarting(back=True))
    with pytest.raises(HubError):
        services.workspace_create(by=alice, name="lost")
    assert not Workspace.objects.filter(owner=alice, name="lost").exists()
    assert ("DELETE", "/users/alice/servers/lost") in hub.paths
    assert queued == []


def test_a_start_that_never_reached_the_hub_changes_nothing(alice, queued):
    # The unit tests' hub address refuses every connection (tests/conftest.py).
    with pytest.raises(HubError) as down:
        services.workspace_create(by=alice, name="never")
    assert down.value.unsent
    assert not Workspace.objects.filter(owner=alice).exists()
    assert queued == []


def test_a_connection_dropped_after_the_request_is_not_unsent():
    with one_shot_server() as url, pytest.raises(HubError) as lost:
        HubClient(f"{url}/hub/api", "t").version()
    assert (lost.value.status, lost.value.unsent) == (503, False)
