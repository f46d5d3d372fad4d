"""Taken off the allow-list, a person loses everything a rejection takes: every action is
refused with the allow-list's reason (the one rule, ``access.why_refused``), and what they
still hold is revoked (API and OAuth tokens at once, servers and hub tokens by a task): at
the change itself for the database's list, at the next periodic check for the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.cache import cache
from django.core.management import call_command
from django_q.conf import Conf
from django_q.models import Schedule
from oauth2_provider.models import get_access_token_model

from portal.accounts import allowlist, services, tasks
from portal.accounts.models import NOT_ALLOWED, AllowListEntry
from portal.api.models import ApiToken
from portal.audit.models import AuditEntry
from portal.hub.client import HubClient
from portal.sshkeys.models import SshKey
from portal.workspaces.models import Workspace
from tests.conftest import PASSWORD
from tests.portal.test_revocation import oauth_token_of

pytestmark = pytest.mark.django_db
REFUSED = {"detail": NOT_ALLOWED, "code": "access_refused"}
REVOKE_TASK = "portal.accounts.tasks.hub_access_revoke"


@pytest.fixture(autouse=True)
def _tasks_inline_and_fresh_throttles(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def whitelist(settings, tmp_path):
    """The dynamic whitelist file, enabled; ``whitelist.write_text(...)`` edits it."""
    path = tmp_path / "dynamic_whitelist.txt"
    settings.DYNAMIC_WHITELIST_ENABLED = True
    settings.DYNAMIC_WHITELIST_FILE = str(path)
    return path


def token_of(api, username: str) -> str:
    response = api.post("/api/v1/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()["token"]


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def revoke_retry_of(user) -> Schedule:
    """The hub is down in unit tests: the revoke task ran, found it so, and will try again."""
    return Schedule.objects.get(func=REVOKE_TASK, args=f"({user.pk},)")


def has_tokens(user) -> bool:
    return (
        ApiToken.objects.filter(user=user).exists()
        or get_access_token_model().objects.filter(user=user).exists()
    )


@contextmanager
def fake_hub() -> Iterator[HubClient]:
    """Our hub adapter with its real signature, at the one seam where every service gets it
    (``portal.hub.client.hub_client``, patched with its own signature): alice's server runs,
    she has two hub tokens."""
    hub = mock.create_autospec(HubClient, instance=True)
    hub.user_get.return_value = {"name": "alice", "servers": {"thesis": {"ready": True}}}
    hub.server_stop.return_value = True
    hub.tokens_list.return_value = [{"id": "a1"}, {"id": "a2"}]
    with mock.patch("portal.hub.client.hub_client", autospec=True, return_value=hub):
        yield hub


def test_off_the_file_an_old_token_is_refused_everywhere(api, alice, whitelist, workspace_of):
    whitelist.write_text("alice\n")
    key = token_of(api, "alice")
    workspace = workspace_of(alice, state=Workspace.State.RUNNING)
    whitelist.write_text("bob\n")  # before the periodic check notices

    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    calls = {
        "start": api.post(f"/api/v1/workspaces/{workspace.pk}/start/"),
        "stop": api.post(f"/api/v1/workspaces/{workspace.pk}/stop/"),
        "token": api.post(f"/api/v1/workspaces/{workspace.pk}/token/", {}, format="json"),
        "list": api.get("/api/v1/workspaces/"),
        "new api token": api.post("/api/v1/tokens/", {"name": "more"}, format="json"),
        "ssh key": api.post("/api/v1/ssh-keys/", {"key": public_key()}, format="json"),
    }
    assert {name: response.status_code for name, response in calls.items()} == dict.fromkeys(
        calls, 403
    )
    assert all(response.json() == REFUSED for response in calls.values())

    api.credentials()
    by_password = api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert by_password.status_code == 403
    assert by_password.json() == REFUSED
    assert ApiToken.objects.filter(user=alice).count() == 1  # the old one, until the check
    assert not SshKey.objects.exists()
    workspace.refresh_from_db()
    assert workspace.state == Workspace.State.RUNNING  # the hub was never asked


def test_the_periodic_check_revokes_people_taken_off_the_file(
    api, alice, bob, carol, whitelist, workspace_of
):
    whitelist.write_text("alice\nbob\n")
    keys = {person.username: token_of(api, person.username) for person in (alice, bob, carol)}
    oauth_token_of(alice)
    workspace_of(alice, state=Workspace.State.RUNNING)
    whitelist.write_text("bob\n")  # carol is an admin: never locked out

    assert tasks.access_lost_check() == "revoked: alice"

    assert not has_tokens(alice)
    api.credentials(HTTP_AUTHORIZATION=f"Token {keys['alice']}")
    assert api.get("/api/v1/workspaces/").status_code == 401
    for kept in ("bob", "carol"):
        api.credentials(HTTP_AUTHORIZATION=f"Token {keys[kept]}")
        assert api.get("/api/v1/workspaces/").status_code == 200
    assert revoke_retry_of(alice).schedule_type == Schedule.ONCE
    (entry,) = AuditEntry.objects.filter(action="user.access_lost")
    assert (entry.target, entry.actor, entry.detail, entry.source) == (
        "alice",
        None,
        NOT_ALLOWED,
        AuditEntry.Source.SCHEDULER,
    )
    # Her server still counts as running while the hub is down: the waiting retry has her.
    assert tasks.access_lost_check() == "nobody to revoke"
    assert Schedule.objects.filter(func=REVOKE_TASK).count() == 1


def test_the_periodic_check_stops_servers_and_hub_tokens_through_the_task(
    alice, whitelist, workspace_of
):
    whitelist.write_text("alice\n")
    oauth_token_of(alice)
    running = workspace_of(alice, state=Workspace.State.RUNNING)
    whitelist.write_text("")
    with fake_hub() as hub:
        tasks.access_lost_check()
    hub.server_stop.assert_called_once_with("alice", "thesis")
    assert hub.token_delete.call_args_list == [mock.call("alice", "a1"), mock.call("alice", "a2")]
    running.refresh_from_db()
    assert (running.state, running.message) == (
        Workspace.State.STOPPED,
        "Stopped: the owner's access was revoked",
    )


def test_setup_schedules_the_check_every_minute():
    out = StringIO()
    call_command("mlhub_setup", stdout=out)
    assert "Allow-list check: every 1 min\n" in out.getvalue()
    schedule = Schedule.objects.get(name=tasks.ACCESS_CHECK_SCHEDULE)
    assert (schedule.func, schedule.minutes, schedule.repeats) == (
        "portal.accounts.tasks.access_lost_check",
        1,
        -1,
    )


def test_removing_a_database_entry_revokes_at_once(api, alice, bob, carol, workspace_of):
    AllowListEntry.objects.create(kind="username", value="bob")
    alices = AllowListEntry.objects.create(kind="username", value="alice")
    key = token_of(api, "alice")
    token_of(api, "bob")
    oauth_token_of(alice)
    workspace_of(alice, state=Workspace.State.RUNNING)

    api.force_authenticate(carol)
    assert api.delete(f"/api/v1/allowlist/{alices.pk}/").status_code == 204

    assert not has_tokens(alice)
    assert ApiToken.objects.filter(user=bob).exists()
    assert revoke_retry_of(alice)
    assert not Schedule.objects.filter(func=REVOKE_TASK, args=f"({bob.pk},)").exists()
    (entry,) = AuditEntry.objects.filter(action="user.access_lost")
    assert (entry.target, entry.actor, entry.detail) == ("alice", carol, NOT_ALLOWED)
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post("/api/v1/tokens/", {"name": "more"}, format="json").status_code == 401


def test_removing_a_database_entry_stops_servers_and_hub_tokens(alice, carol, workspace_of):
    AllowListEntry.objects.create(kind="username", value="bob")  # the list stays active
    alices = AllowListEntry.objects.create(kind="username", value="alice")
    running = workspace_of(alice, state=Workspace.State.RUNNING)
    with fake_hub() as hub:
        allowlist.allowlist_remove(entry=alices, by=carol)
    hub.server_stop.assert_called_once_with("alice", "thesis")
    assert hub.token_delete.call_args_list == [mock.call("alice", "a1"), mock.call("alice", "a2")]
    running.refresh_from_db()
    assert running.state == Workspace.State.STOPPED


def test_the_first_entry_revokes_everyone_it_leaves_out(api, alice, bob, carol):
    for person in (alice, bob, carol):
        token_of(api, person.username)
    api.force_authenticate(carol)
    response = api.post("/api/v1/allowlist/", {"kind": "username", "value": "bob"}, format="json")
    assert response.status_code == 201
    assert not has_tokens(alice)
    assert ApiToken.objects.filter(user=bob).exists()
    assert ApiToken.objects.filter(user=carol).exists()
    assert revoke_retry_of(alice)


def test_a_new_email_outside_the_listed_domain_revokes(api, alice, carol):
    AllowListEntry.objects.create(kind="domain", value="uni.edu")
    alice.email = "alice@uni.edu"
    alice.save()
    token_of(api, "alice")
    alice.email = "alice@elsewhere.org"
    services.user_update(user=alice, by=carol)
    assert not has_tokens(alice)
    assert revoke_retry_of(alice)


def test_the_account_page_gives_no_token_or_key_off_the_list(client, alice, whitelist):
    whitelist.write_text("bob\n")
    client.force_login(alice)
    page = client.post("/accounts/tokens/", {"name": "laptop"}, follow=True)
    assert NOT_ALLOWED.replace("'", "&#x27;") in page.content.decode()
    page = client.post("/accounts/ssh-keys/", {"key": public_key()}, follow=True)
    assert NOT_ALLOWED.replace("'", "&#x27;") in page.content.decode()
    assert not ApiToken.objects.exists()
    assert not SshKey.objects.exists()
