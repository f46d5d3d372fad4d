"""The hub's state reports: only its own credential is taken, only for workspaces that exist,
and a report older than what the row holds changes nothing."""

from __future__ import annotations

import time

import pytest

from portal.workspaces.models import Workspace

EVENTS = "/api/v1/internal/hub-events/"
HUB_TOKEN = "the-hubs-events-token"
REFUSED = {"detail": "Only the hub may report workspace states here.", "code": "permission_denied"}
State = Workspace.State


@pytest.fixture(autouse=True)
def _events_token(settings):
    settings.HUB_EVENTS_TOKEN = HUB_TOKEN


def report(api, state="running", *, at=None, token=HUB_TOKEN, server="thesis", **extra):
    body = {"user": "alice", "server": server, "state": state, "at": at or time.time(), **extra}
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return api.post(EVENTS, body, format="json", **headers)


def test_the_hubs_report_sets_the_state(api, alice, workspace_of):
    workspace = workspace_of(alice, state=State.STARTING)
    response = report(api, "error", message="Spawn failed: no such image")
    assert response.status_code == 200
    assert response.json() == {"state": "error", "applied": True}
    workspace.refresh_from_db()
    assert (workspace.state, workspace.message) == (State.ERROR, "Spawn failed: no such image")
    assert workspace.synced_at is not None


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": f"token {HUB_TOKEN}"},
        {"HTTP_AUTHORIZATION": "Bearer unit-test-token"},  # the portal's own hub token
    ],
    ids=["none", "wrong", "other-scheme", "portal-hub-token"],
)
def test_anything_but_the_hubs_credential_is_refused(api, alice, workspace_of, credential):
    workspace_of(alice, state=State.RUNNING)
    body = {"user": "alice", "server": "thesis", "state": "stopped", "at": time.time()}
    response = api.post(EVENTS, body, format="json", **credential)
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert Workspace.objects.get().state == State.RUNNING


def test_a_person_signed_in_cannot_report(api, carol, alice, workspace_of):
    workspace_of(alice, state=State.RUNNING)
    api.force_authenticate(carol)  # even an admin
    response = report(api, "stopped", token=None)
    assert (response.status_code, response.json()) == (403, REFUSED)
    assert Workspace.objects.get().state == State.RUNNING


def test_no_credential_is_accepted_when_the_portal_has_none(api, alice, workspace_of, settings):
    settings.HUB_EVENTS_TOKEN = None
    workspace_of(alice, state=State.RUNNING)
    response = report(api, "stopped", token="")
    assert (response.status_code, response.json()) == (403, REFUSED)


def test_the_hubs_credential_opens_nothing_else(api, alice, workspace_of):
    workspace_of(alice)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {HUB_TOKEN}"}
    response = api.get("/api/v1/workspaces/", **headers)
    assert response.status_code == 401
    assert api.get("/api/v1/me/", **headers).status_code == 401


def test_a_report_about_a_workspace_that_does_not_exist_is_a_404_and_creates_nothing(api, alice):
    response = report(api, "running", server="ghost")
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "No workspace alice/ghost", "code": "not_found"},
    )
    assert not Workspace.objects.exists()


def test_a_report_of_an_unknown_state_is_refused(api, alice, workspace_of):
    workspace_of(alice, state=State.RUNNING)
    response = report(api, "exploded")
    assert response.status_code == 400
    assert response.json() == {"state": ['"exploded" is not a valid choice.']}
    assert Workspace.objects.get().state == State.RUNNING


def test_of_two_reports_that_cross_the_newer_wins(api, alice, workspace_of):
    # A failed spawn: the hub stops it (report "stopped"), then the failure is known
    # ("error"). Delivered the other way round, the error must stay.
    workspace_of(alice, state=State.STARTING)
    now = time.time()
    assert report(api, "error", at=now, message="Spawn failed").json()["applied"] is True
    assert report(api, "stopped", at=now - 0.01).json() == {"state": "error", "applied": False}
    assert Workspace.objects.get().message == "Spawn failed"


def test_a_report_older_than_the_portals_own_action_is_ignored(api, alice, workspace_of):
    from django.utils import timezone

    workspace_of(alice, state=State.STOPPED, synced_at=timezone.now())
    response = report(api, "running", at=time.time() - 5)
    assert response.json() == {"state": "stopped", "applied": False}
