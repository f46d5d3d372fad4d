"""A delete answers at once; the row goes once the hub has removed the server (a task).

The hub is our own adapter with its HTTP scripted (``ScriptedHub``): after the DELETE it
keeps listing the server for a few reads, as the real hub does while its spawner removes the
container, volume and network.
"""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from portal.accounts import services as accounts
from portal.accounts import tasks as account_tasks
from portal.accounts.access import AccessRefused
from portal.accounts.models import User
from portal.errors import ServiceError
from portal.workspaces import services, tasks
from portal.workspaces.models import Workspace
from tests.portal.scripted_hub import ScriptedHub

State = Workspace.State


class SlowRemovingHub(ScriptedHub):
    """Lists the removed servers (as stopped) for ``reads_until_gone`` more reads."""

    def __init__(self, reads_until_gone: int, **script):
        super().__init__(**script)
        self.reads_until_gone = reads_until_gone

    def _answer(self, method, path, kwargs):
        # Only a read that includes stopped servers can tell that one is removed.
        if method == "GET" and (kwargs.get("params") or {}).get("include_stopped_servers"):
            self.reads_until_gone -= 1
            if self.reads_until_gone < 0:
                self.kept = self.active = {}
        return super()._answer(method, path, kwargs)


@pytest.fixture
def hub_removing(monkeypatch, hub_double):
    enqueued = []
    monkeypatch.setattr(services, "async_task", lambda *a, **k: enqueued.append(a))
    monkeypatch.setattr(accounts, "async_task", lambda *a, **k: enqueued.append(a))

    def install(reads_until_gone: int, kept=None) -> SlowRemovingHub:
        hub = SlowRemovingHub(reads_until_gone, kept=kept or {}, active=kept or {})
        hub.enqueued = enqueued
        return hub_double(hub)

    return install


def test_a_delete_answers_at_once_and_the_workspace_is_gone_for_its_owner(
    api, alice, workspace_of, hub_removing
):
    workspace = workspace_of(alice, state=State.RUNNING)
    hub = hub_removing(reads_until_gone=3, kept={"alice": {"thesis": {}}})
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 204
    assert hub.paths == [("GET", "/")]  # only whether the hub answers: the rest is the task's
    assert api.get(f"/api/v1/workspaces/{workspace.pk}/").status_code == 404
    assert api.get("/api/v1/workspaces/").json()["count"] == 0
    kept = Workspace.objects.get(pk=workspace.pk)
    assert (kept.deleting_since is not None, kept.state, kept.message) == (
        True,
        State.STOPPING,
        services.DELETING,
    )
    assert hub.enqueued == [("portal.workspaces.tasks.finish_deletes", [workspace.pk])]


def test_the_task_asks_the_hub_to_remove_the_server_once_even_when_tried_again(
    alice, workspace_of, hub_removing, monkeypatch
):
    monkeypatch.setattr(services, "REMOVE_PATIENCE", 0.3)
    workspace = workspace_of(alice, state=State.RUNNING)
    hub = hub_removing(reads_until_gone=10_000, kept={"alice": {"thesis": {}}})
    services.workspace_delete(workspace=workspace, by=alice)
    assert tasks.finish_deletes([workspace.pk]) == "not finished, retry in 30 s"
    hub.reads_until_gone = 0  # the hub's spawner is done by the retry
    assert tasks.finish_deletes([workspace.pk]) == "1 deleted"
    deletes = [path for method, path in hub.paths if method == "DELETE"]
    # Each try asks again: the hub takes a second DELETE of a stopping server as the same one.
    assert deletes == ["/users/alice/servers/thesis"] * 2
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_a_delete_of_many_asks_the_hub_once_and_marks_them_in_one_go(
    carol, alice, bob, workspace_of, hub_removing, django_assert_max_num_queries
):
    rows = [workspace_of(owner, f"w{n}") for owner in (alice, bob) for n in range(20)]
    hub = hub_removing(reads_until_gone=0)
    with django_assert_max_num_queries(3):
        services.workspaces_delete(workspaces=rows)
    assert hub.paths == [("GET", "/")]
    assert Workspace.objects.filter(deleting_since__isnull=False).count() == 40
    assert hub.enqueued == [("portal.workspaces.tasks.finish_deletes", [w.pk for w in rows])]


def test_the_task_forgets_the_workspace_once_the_hub_has_removed_it(
    alice, workspace_of, hub_removing
):
    workspace = workspace_of(alice, state=State.RUNNING)
    hub = hub_removing(reads_until_gone=3, kept={"alice": {"thesis": {}}})
    services.workspace_delete(workspace=workspace, by=alice)
    assert tasks.finish_deletes([workspace.pk]) == "1 deleted"
    assert hub.reads_until_gone < 0, "forgotten before the hub was done"
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_a_hub_that_does_not_finish_keeps_the_row_and_the_task_tries_again(
    alice, workspace_of, hub_removing, monkeypatch
):
    monkeypatch.setattr(services, "REMOVE_PATIENCE", 0.3)
    workspace = workspace_of(alice, state=State.RUNNING)
    hub_removing(reads_until_gone=10_000, kept={"alice": {"thesis": {}}})
    services.workspace_delete(workspace=workspace, by=alice)
    assert tasks.finish_deletes([workspace.pk]) == "not finished, retry in 30 s"
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    (retry,) = Schedule.objects.filter(func="portal.workspaces.tasks.finish_deletes")
    assert (retry.schedule_type, retry.args) == (Schedule.ONCE, f"([{workspace.pk}],)")


def test_a_hub_that_is_down_refuses_the_delete_and_nothing_is_marked(api, alice, workspace_of):
    workspace = workspace_of(alice, state=State.RUNNING)
    api.force_authenticate(alice)
    response = api.delete(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("JupyterHub could not do this: JupyterHub is not")
    assert Workspace.objects.get(pk=workspace.pk).deleting_since is None


def test_the_name_is_free_again_only_once_the_delete_is_done(
    api, alice, workspace_of, hub_removing
):
    workspace = workspace_of(alice, state=State.STOPPED)
    hub_removing(reads_until_gone=0)
    services.workspace_delete(workspace=workspace, by=alice)
    api.force_authenticate(alice)
    response = api.post("/api/v1/workspaces/", {"name": "thesis"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The workspace 'thesis' is still being deleted; try again in a minute",
        "code": "conflict",
    }


def test_a_person_deleted_is_gone_at_once_and_removed_once_the_hub_is_done(
    api, carol, alice, workspace_of, hub_removing
):
    workspace_of(alice, state=State.RUNNING)
    hub = hub_removing(reads_until_gone=2, kept={"alice": {"thesis": {}}})
    api.force_authenticate(carol)
    assert api.delete(f"/api/v1/users/{alice.pk}/").status_code == 204
    assert api.get(f"/api/v1/users/{alice.pk}/").status_code == 404
    alice.refresh_from_db()
    assert (alice.is_active, alice.deleting_since is not None) == (False, True)
    assert account_tasks.user_delete_finish(alice.pk) == "alice deleted"
    assert ("DELETE", "/users/alice") in hub.paths
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Workspace.objects.exists()


def test_only_the_owner_or_an_admin_may_delete(alice, bob, mallory, workspace_of, hub_removing):
    workspace = workspace_of(alice, state=State.STOPPED)
    hub = hub_removing(reads_until_gone=0)
    with pytest.raises(ServiceError) as caught:
        services.workspace_delete(workspace=workspace, by=bob)
    assert (caught.value.status, caught.value.message) == (
        403,
        "Only its owner or an administrator may delete alice/thesis.",
    )
    with pytest.raises(AccessRefused) as caught:
        services.workspace_delete(workspace=workspace, by=mallory)
    assert caught.value.status == 403
    assert hub.paths == []
    assert Workspace.objects.get(pk=workspace.pk).deleting_since is None


def test_the_workspaces_hub_tokens_end_with_it(alice, workspace_of, hub_removing):
    workspace = workspace_of(alice, state=State.RUNNING)
    hub = hub_removing(reads_until_gone=1, kept={"alice": {"thesis": {}}})
    hub.tokens["alice"] = [
        {"id": "a1", "scopes": ["access:servers!server=alice/thesis"]},
        {"id": "a2", "scopes": ["access:servers!server=alice/other"]},
    ]
    services.workspace_delete(workspace=workspace, by=alice)
    assert tasks.finish_deletes([workspace.pk]) == "1 deleted"
    assert [token["id"] for token in hub.tokens["alice"]] == ["a2"]
