"""A delete returns only once the hub has removed the server (and so its container, volume
and network); a hub that does not finish in time gets a 503 and the workspace is kept.

The hub client (our own adapter) is replaced by one that keeps listing the server for a few
reads after the DELETE, as the real hub does while it stops and removes it.
"""

from __future__ import annotations

import pytest

from portal.workspaces import services
from portal.workspaces.models import Workspace


class SlowRemovingHub:
    def __init__(self, reads_until_gone: int):
        self.reads_until_gone = reads_until_gone
        self.removals: list[tuple[str, str]] = []

    def server_stop(self, user, server, *, remove=False):
        assert remove
        self.removals.append((user, server))
        return False  # 202: the hub is still stopping it

    def user_get(self, name, *, with_stopped=False):
        assert with_stopped, "a stopped server not yet removed must count as still there"
        self.reads_until_gone -= 1
        kept = {} if self.reads_until_gone < 0 else {s: {} for u, s in self.removals}
        return {"name": name, "servers": kept}


@pytest.fixture
def slow_hub(monkeypatch):
    def install(reads_until_gone: int):
        hub = SlowRemovingHub(reads_until_gone)
        monkeypatch.setattr(services, "hub_client", lambda: hub)
        monkeypatch.setattr(services, "REMOVE_PATIENCE", 2)
        return hub

    return install


def test_the_delete_waits_until_the_hub_has_removed_the_server(alice, workspace_of, api, slow_hub):
    workspace = workspace_of(alice, state=Workspace.State.RUNNING)
    hub = slow_hub(reads_until_gone=3)
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 204
    assert hub.reads_until_gone < 0, "answered before the hub was done"
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_a_hub_that_does_not_finish_gets_a_503_and_the_workspace_is_kept(
    alice, workspace_of, api, slow_hub
):
    workspace = workspace_of(alice, state=Workspace.State.RUNNING)
    slow_hub(reads_until_gone=10_000)
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 503
    assert "has not finished removing alice/thesis" in response.json()["detail"]
    assert Workspace.objects.filter(pk=workspace.pk).exists()
