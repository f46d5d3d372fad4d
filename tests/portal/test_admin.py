"""The Django admin deletes through the services: nothing is orphaned in the hub."""

from __future__ import annotations

import pytest

from portal.accounts.models import User
from portal.errors import ServiceError
from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, carol):
    carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    return client


def test_deleting_a_workspace_while_the_hub_is_down_keeps_it_and_says_why(
    admin_client, alice, workspace_of
):
    workspace = workspace_of(alice)
    url = f"/admin/workspaces/workspace/{workspace.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    texts = [str(m) for m in response.context["messages"]]
    assert any("was not deleted" in t and "not reachable" in t for t in texts), texts
    assert not any("successfully" in t for t in texts), texts


def test_the_bulk_delete_goes_through_the_service(admin_client, alice, workspace_of):
    workspace = workspace_of(alice)
    response = admin_client.get("/admin/workspaces/workspace/")
    assert b'value="delete_selected"' not in response.content
    response = admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "delete_with_resources", "_selected_action": [workspace.pk]},
        follow=True,
    )
    assert Workspace.objects.filter(pk=workspace.pk).exists()  # the hub is down
    texts = [str(m) for m in response.context["messages"]]
    assert any("was not deleted" in t for t in texts), texts


def test_a_bulk_delete_marks_each_and_one_task_removes_them_all(
    admin_client, alice, bob, workspace_of, queued, monkeypatch, hub_double
):
    from portal.audit.models import AuditEntry
    from portal.workspaces import services
    from tests.portal.scripted_hub import ScriptedHub

    hub_double(ScriptedHub)  # it answers: deletes go ahead
    rows = [workspace_of(alice, "one"), workspace_of(alice, "two"), workspace_of(bob, "three")]

    response = admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "delete_with_resources", "_selected_action": [w.pk for w in rows]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == ["Deleted 3."]
    ((func, ids),) = queued  # one task for the three, not one each
    assert (func, sorted(ids)) == (
        "portal.workspaces.tasks.finish_deletes",
        sorted(w.pk for w in rows),
    )
    assert set(Workspace.objects.values_list("message", flat=True)) == {services.DELETING}
    entries = AuditEntry.objects.filter(action="workspace.delete").order_by("target")
    assert [(e.target, e.result) for e in entries] == [
        ("alice/one", "ok"),
        ("alice/two", "ok"),
        ("bob/three", "ok"),
    ]


def test_a_bulk_delete_while_the_hub_is_down_asks_it_once_and_keeps_them_all(
    admin_client, alice, workspace_of, queued, monkeypatch, hub_double
):
    from tests.portal.scripted_hub import ScriptedHub

    hub = ScriptedHub(down=True)
    hub_double(hub)
    rows = [workspace_of(alice, "one"), workspace_of(alice, "two")]

    response = admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "delete_with_resources", "_selected_action": [w.pk for w in rows]},
        follow=True,
    )

    assert hub.calls == 1  # the rest would each wait for a hub that is down
    assert sorted(str(m) for m in response.context["messages"]) == [
        "alice/one was not deleted: JupyterHub is not reachable: ConnectionError",
        "alice/two was not deleted: JupyterHub is not reachable: ConnectionError",
    ]
    assert set(Workspace.objects.values_list("deleting_since", flat=True)) == {None}
    assert queued == []


def test_deleting_a_person_while_the_hub_is_down_keeps_them(admin_client, alice):
    admin_client.post(f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"})
    assert User.objects.filter(pk=alice.pk).exists()


def test_workspaces_are_added_on_the_portals_create_form_not_in_the_admin(admin_client):
    # There the request is checked against the template and the workspace started.
    response = admin_client.get("/admin/workspaces/workspace/add/")
    assert (response.status_code, response["Location"]) == (302, "/#new-workspace")


def test_admins_approve_people_in_the_admin(admin_client, mallory):
    admin_client.post(
        "/admin/accounts/user/", {"action": "approve", "_selected_action": [mallory.pk]}
    )
    mallory.refresh_from_db()
    assert mallory.is_approved


@pytest.fixture
def queued(monkeypatch):
    from portal.workspaces import services

    tasks: list[tuple] = []
    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: tasks.append(args))
    return tasks


def test_a_bulk_start_answers_at_once_and_a_task_starts_each(
    admin_client, carol, alice, bob, workspace_of, queued, monkeypatch, hub_double
):
    from portal.audit.models import AuditEntry
    from portal.quotas.models import Quota
    from portal.workspaces import tasks
    from tests.portal.scripted_hub import ScriptedHub

    rows = [workspace_of(alice, "one"), workspace_of(alice, "two"), workspace_of(bob, "three")]
    Quota.objects.create(user=alice, running=1)
    response = admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "start", "_selected_action": [w.pk for w in rows]},
        follow=True,
    )
    texts = [str(m) for m in response.context["messages"]]
    assert texts == [
        "Asked to start 3 workspaces in the background: their states follow in this list; "
        "a refusal (quota, state) is in the audit log."
    ]
    ((func, action, ids, by_id),) = queued
    assert (func, action, sorted(ids), by_id) == (
        "portal.workspaces.tasks.act_on_each",
        "start",
        sorted(w.pk for w in rows),
        carol.pk,
    )
    assert not AuditEntry.objects.filter(action="workspace.start").exists()  # nothing yet

    hub_double(ScriptedHub)
    assert tasks.act_on_each(action, ids, by_id) == "2 done, 1 refused, 0 failed, 0 not tried"

    states = dict(Workspace.objects.values_list("name", "state"))
    assert states == {"one": "starting", "two": "stopped", "three": "starting"}
    entries = AuditEntry.objects.filter(action="workspace.start").order_by("target")
    assert [(e.target, e.result, e.actor_name, e.source) for e in entries] == [
        ("alice/one", "ok", "carol", "admin"),
        ("alice/two", "refused", "carol", "admin"),
        ("bob/three", "ok", "carol", "admin"),
    ]
    assert entries[1].detail == "Quota exceeded for alice: running workspaces — limit 1, in use 1."


def test_a_bulk_stop_while_the_hub_is_down_ends_at_the_first_failure_and_changes_nothing(
    admin_client, alice, workspace_of, queued
):
    from portal.audit.models import AuditEntry
    from portal.workspaces import tasks

    rows = [workspace_of(alice, name, state=Workspace.State.RUNNING) for name in ("one", "two")]
    admin_client.post(
        "/admin/workspaces/workspace/",
        {"action": "stop", "_selected_action": [w.pk for w in rows]},
    )
    ((_, action, ids, by_id),) = queued

    assert tasks.act_on_each(action, ids, by_id) == "0 done, 0 refused, 1 failed, 1 not tried"
    assert set(Workspace.objects.values_list("state", flat=True)) == {"running"}
    (failed,) = AuditEntry.objects.filter(action="workspace.stop")
    assert (failed.target, failed.result, failed.detail) == (
        "alice/one",
        "failed",
        "JupyterHub is not reachable: ConnectionError",
    )


def test_only_admins_may_act_on_many(alice, workspace_of, queued):
    from portal.workspaces import services

    with pytest.raises(ServiceError) as refused:
        services.workspaces_act_later(action="start", workspaces=[workspace_of(alice)], by=alice)
    assert (refused.value.status, refused.value.message) == (
        403,
        "Only administrators may start many workspaces at once.",
    )
    with pytest.raises(ServiceError) as unknown:
        services.workspaces_act_later(action="delete", workspaces=[], by=alice)
    assert (unknown.value.status, unknown.value.message) == (
        400,
        "Unknown action 'delete'; one of start, stop.",
    )
    assert queued == []
