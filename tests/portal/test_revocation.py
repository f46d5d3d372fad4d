"""Rejecting or deactivating a person revokes their access: at once in the portal, and in
the hub by a task that retries while the hub is down."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule
from oauth2_provider.models import get_access_token_model, get_application_model

from portal.accounts import services
from portal.api.services import api_token_create
from portal.hub.client import HubClient
from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tasks_inline(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)


def oauth_token_of(user):
    app = get_application_model().objects.create(
        name="hub",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="http://localhost:8000/hub/oauth_callback",
    )
    return get_access_token_model().objects.create(
        user=user,
        application=app,
        token=f"oauth-token-of-{user.username}",
        expires=timezone.now() + timedelta(hours=1),
        scope="profile",
    )


def fake_hub(servers: dict, tokens: list[dict]):
    """Our hub adapter with its real signature, answering as a hub would."""
    hub = mock.create_autospec(HubClient, instance=True)
    hub.user_get.return_value = {"name": "alice", "servers": servers}
    hub.server_stop.return_value = True
    hub.tokens_list.return_value = tokens
    return hub


def test_an_admin_rejects_a_person_through_the_api(api, alice, carol):
    oauth_token_of(alice)
    api_token_create(user=alice, by=alice)
    api.force_authenticate(carol)
    response = api.post(f"/api/v1/users/{alice.pk}/reject/")
    assert response.status_code == 200
    assert response.json()["approval"] == "rejected"
    assert not get_access_token_model().objects.filter(user=alice).exists()
    assert not alice.auth_token_set.exists()
    # The hub is down in unit tests: the task said so and will try again.
    retry = Schedule.objects.get(func="portal.accounts.tasks.hub_access_revoke")
    assert retry.args == f"({alice.pk},)" and retry.schedule_type == Schedule.ONCE


def test_only_admins_reject(api, alice, bob):
    api.force_authenticate(bob)
    response = api.post(f"/api/v1/users/{alice.pk}/reject/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only administrators may do this.", "code": "admin_only"}


def test_admins_cannot_reject_themselves(api, carol):
    api.force_authenticate(carol)
    response = api.post(f"/api/v1/users/{carol.pk}/reject/")
    assert response.status_code == 403
    assert response.json() == {"detail": "You cannot reject your own account.", "code": "forbidden"}


def admin_form_post(client, user, **changes):
    """Post the Django admin's change form of ``user`` as shown, with ``changes``."""
    url = f"/admin/accounts/user/{user.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("groups", "user_permissions", "date_joined")
    }
    data.update(date_joined_0="2026-01-01", date_joined_1="00:00:00", **changes)
    # The quota and budget inlines' management forms: no rows.
    data.update({"quota-TOTAL_FORMS": 0, "quota-INITIAL_FORMS": 0})
    data.update({"budget-TOTAL_FORMS": 0, "budget-INITIAL_FORMS": 0})
    data = {name: value for name, value in data.items() if value is not False}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()


@pytest.fixture
def superuser_client(client, carol):
    carol.is_superuser = True
    carol.save()
    client.force_login(carol)
    return client


def test_deactivating_in_the_admin_form_revokes_access(superuser_client, alice):
    oauth_token_of(alice)
    admin_form_post(superuser_client, alice, is_active=False)
    assert alice.is_active is False
    assert not get_access_token_model().objects.filter(user=alice).exists()
    assert Schedule.objects.filter(func="portal.accounts.tasks.hub_access_revoke").exists()


def test_editing_someone_who_keeps_access_revokes_nothing(superuser_client, alice):
    oauth_token_of(alice)
    admin_form_post(superuser_client, alice, email="alice@example.org")
    assert alice.email == "alice@example.org"
    assert get_access_token_model().objects.filter(user=alice).exists()
    assert not Schedule.objects.exists()


def test_the_hub_side_stops_servers_and_deletes_tokens(alice, workspace_of):
    running = workspace_of(alice, state=Workspace.State.RUNNING)
    hub = fake_hub({"thesis": {"ready": True}}, [{"id": "a1"}, {"id": "a2"}])
    with mock.patch("portal.hub.client.hub_client", return_value=hub):
        report = services.hub_access_revoke(user=alice)
    assert report == "1 servers stopped, 2 hub tokens revoked"
    hub.server_stop.assert_called_once_with("alice", "thesis")
    assert hub.token_delete.call_args_list == [mock.call("alice", "a1"), mock.call("alice", "a2")]
    running.refresh_from_db()
    assert running.state == Workspace.State.STOPPED
    assert running.message == "Stopped: the owner's access was revoked"


def test_the_task_leaves_people_who_are_approved_again_alone(alice):
    from portal.accounts.tasks import hub_access_revoke

    assert hub_access_revoke(alice.pk) == "nothing to revoke"  # alice is approved
