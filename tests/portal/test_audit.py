"""The audit log: every state-changing action, allowed, refused or failed, with its source."""

from __future__ import annotations

import time

import pytest

from portal.accounts.access import AccessRefused
from portal.audit.models import AuditEntry
from portal.errors import ServiceError
from portal.workspaces import services
from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db
AUDIT = "/api/v1/audit/"


def only_entry(**match) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(**match)
    return entry


def test_an_api_action_the_hub_cannot_do_is_recorded_as_failed(api, alice, workspace_of):
    workspace = workspace_of(alice)
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/workspaces/{workspace.pk}/start/", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 503
    entry = only_entry(action="workspace.start")
    assert (entry.actor, entry.actor_name, entry.target) == (alice, "alice", "alice/thesis")
    assert (entry.result, entry.source, entry.address) == ("failed", "api", "10.1.2.3")
    assert entry.detail == "JupyterHub is not reachable: ConnectionError"


def test_a_refusal_is_recorded_with_its_reason(alice, bob, workspace_of):
    workspace = workspace_of(alice)
    with pytest.raises(ServiceError):
        services.workspace_stop(workspace=workspace, by=bob)
    entry = only_entry(action="workspace.stop")
    assert (entry.actor_name, entry.result, entry.source) == ("bob", "refused", "scheduler")
    assert entry.detail == "Only its owner or an administrator may stop alice/thesis."


def test_an_approval_in_the_api_is_recorded(api, carol, mallory):
    api.force_authenticate(carol)
    assert api.post(f"/api/v1/users/{mallory.pk}/approve/").status_code == 200
    entry = only_entry(action="user.approve")
    assert (entry.actor_name, entry.target, entry.result, entry.source) == (
        "carol",
        "mallory",
        "ok",
        "api",
    )


def test_an_approval_in_the_django_admin_says_admin(client, carol, mallory):
    client.force_login(carol)
    response = client.post(
        "/admin/accounts/user/", {"action": "approve", "_selected_action": [mallory.pk]}
    )
    assert response.status_code == 302
    assert only_entry(action="user.approve").source == "admin"


def test_a_state_the_hub_reports_is_recorded_as_a_hub_event(api, alice, workspace_of, settings):
    settings.HUB_EVENTS_TOKEN = "events"
    workspace_of(alice, state=Workspace.State.STARTING)
    body = {
        "user": "alice",
        "server": "thesis",
        "state": "error",
        "message": "no image",
        "at": time.time(),
    }
    response = api.post(
        "/api/v1/internal/hub-events/", body, format="json", HTTP_AUTHORIZATION="Bearer events"
    )
    assert response.status_code == 200, response.json()
    entry = only_entry(action="workspace.error")
    assert (entry.actor, entry.actor_name, entry.source) == (None, "", "hub-event")
    assert entry.detail == "starting → error: no image"


def test_a_forwarded_address_that_is_not_one_is_left_out(api, alice, workspace_of):
    workspace = workspace_of(alice)
    api.force_authenticate(alice)
    api.post(f"/api/v1/workspaces/{workspace.pk}/stop/", HTTP_X_FORWARDED_FOR="not-an-ip")
    assert only_entry(action="workspace.stop").address is None


def test_only_admins_read_the_log(api, alice):
    assert api.get(AUDIT).status_code == 401
    api.force_authenticate(alice)
    response = api.get(AUDIT)
    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}


def test_admins_filter_the_log(api, carol, alice, bob, mallory, workspace_of):
    for person in (alice, bob):
        with pytest.raises(AccessRefused):
            services.workspace_stop(workspace=workspace_of(person), by=mallory)
    api.force_authenticate(carol)
    page = api.get(AUDIT, {"target": "bob/thesis", "result": "refused"}).json()
    assert page["count"] == 1
    assert page["results"][0]["actor"] == "mallory"
    assert api.get(AUDIT, {"actor": "mallory"}).json()["count"] == 2
    assert api.get(AUDIT, {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"result": "maybe"}, "Unknown result 'maybe'; use one of: ok, refused, failed."),
        (
            {"since": "yesterday"},
            "since must be an ISO 8601 date and time, e.g. 2026-11-27T09:00:00Z.",
        ),
        (  # well formed, but no such day
            {"since": "2026-02-30T09:00:00Z"},
            "since must be an ISO 8601 date and time, e.g. 2026-11-27T09:00:00Z.",
        ),
        (  # past the year 9999 once in UTC
            {"until": "9999-12-31T23:00:00-05:00"},
            "until must be an ISO 8601 date and time, e.g. 2026-11-27T09:00:00Z.",
        ),
    ],
)
def test_a_filter_that_means_nothing_is_a_400(api, carol, params, message):
    api.force_authenticate(carol)
    response = api.get(AUDIT, params)
    assert response.status_code == 400
    assert response.json() == {"detail": message, "code": "invalid"}


def test_a_moment_with_any_offset_is_read_in_utc(api, carol, alice, workspace_of):
    # The API fuzzer's find: PostgreSQL refuses offsets beyond ±15:59, a 500 once.
    with pytest.raises(ServiceError):
        services.workspace_stop(workspace=workspace_of(alice), by=alice)  # already stopped
    api.force_authenticate(carol)
    for since, count in [("4555-12-17T12:19:00.66-23:29", 0), ("2000-01-01T00:00:00+23:59", 1)]:
        response = api.get(AUDIT, {"since": since})
        assert (response.status_code, response.json()["count"]) == (200, count), since
    assert api.get(AUDIT, {"until": "2000-01-01T00:00:00"}).json()["count"] == 0  # UTC's


def test_nobody_changes_the_log_in_the_django_admin(client, carol, alice, workspace_of):
    with pytest.raises(ServiceError):
        services.workspace_stop(workspace=workspace_of(alice), by=alice)  # already stopped
    entry = AuditEntry.objects.get()
    client.force_login(carol)
    assert client.get("/admin/audit/auditentry/").status_code == 200
    assert (
        client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert AuditEntry.objects.count() == 1
