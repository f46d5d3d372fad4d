"""The self-service and admin pages: sign-up, account (password, tokens, SSH keys), the
dashboard, extend, admin-creates-for, the user-hub mode and branding — per role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.utils import timezone

from portal.accounts.models import User
from portal.api.models import ApiToken
from portal.sshkeys.models import SshKey
from portal.workspaces.models import Workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.mark.parametrize("path", ["/", "/accounts/", "/accounts/password/", "/dashboard/"])
def test_strangers_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_signing_up_on_the_page_waits_for_approval(client):
    form = {"username": "dave", "email": "d@uni.edu", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/accounts/signup/", form)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert User.objects.get(username="dave").approval == "pending"
    client.force_login(User.objects.get(username="dave"))
    page = client.get("/").content.decode()
    assert "Your account is waiting for an administrator&#x27;s approval." in page
    assert "New workspace" not in page


def test_the_page_and_the_api_share_the_sign_up_rate(client, api, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "signup", "1/hour")
    body = {"username": "dave", "email": "d@uni.edu", "password": PASSWORD}
    assert api.post("/api/v1/auth/signup/", body, format="json").status_code == 201
    form = {"username": "erin", "email": "e@uni.edu", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/accounts/signup/", form)
    assert response.status_code == 429
    assert not User.objects.filter(username="erin").exists()


def test_the_login_page_offers_sign_up_only_when_open(client, settings):
    assert b'href="/accounts/signup/"' in client.get("/accounts/login/").content
    settings.SIGNUP_ENABLED = False
    assert b'href="/accounts/signup/"' not in client.get("/accounts/login/").content
    assert b"Sign-up is closed" in client.get("/accounts/signup/").content


def test_tokens_on_the_account_page_are_shown_once_and_revoked(client, alice):
    client.force_login(alice)
    made = client.post("/accounts/tokens/", {"name": "laptop"}).content.decode()
    token = ApiToken.objects.get(user=alice)
    assert "copy it now" in made and f"<code>{token.token_key}</code>" in made
    assert "copy it now" not in client.get("/accounts/").content.decode()
    client.post(f"/accounts/tokens/{token.token_key}/revoke/")
    assert not ApiToken.objects.exists()


def test_ssh_keys_on_the_account_page(client, alice, bob):
    client.force_login(alice)
    client.post("/accounts/ssh-keys/", {"key": public_key(), "name": "laptop"})
    key = SshKey.objects.get(owner=alice)
    assert key.fingerprint in client.get("/accounts/").content.decode()
    bad = client.post("/accounts/ssh-keys/", {"key": "not a key"}, follow=True).content.decode()
    assert "This is not an OpenSSH public key" in bad and SshKey.objects.count() == 1
    client.force_login(bob)
    assert client.post(f"/accounts/ssh-keys/{key.pk}/remove/").status_code == 404
    client.force_login(alice)
    client.post(f"/accounts/ssh-keys/{key.pk}/remove/")
    assert not SshKey.objects.exists()


def test_waiting_people_get_neither_tokens_nor_keys(client, mallory):
    client.force_login(mallory)
    page = client.get("/accounts/").content.decode()
    assert "API tokens" not in page and "SSH keys" not in page
    client.post("/accounts/tokens/", {"name": "x"})
    client.post("/accounts/ssh-keys/", {"key": public_key()})
    assert not ApiToken.objects.exists() and not SshKey.objects.exists()


def test_the_password_is_changed_and_audited(client, alice):
    client.force_login(alice)
    form = {
        "old_password": PASSWORD,
        "new_password1": "another-long-one-9",
        "new_password2": "another-long-one-9",
    }
    assert client.post("/accounts/password/", form)["Location"] == "/accounts/"
    alice.refresh_from_db()
    assert alice.check_password("another-long-one-9")
    from portal.audit.models import AuditEntry

    assert AuditEntry.objects.get(action="user.password").source == "page"


def test_the_dashboard_is_for_admins(client, alice):
    client.force_login(alice)
    response = client.get("/dashboard/")
    # The service's refusal, with its status and its message on a page of the portal.
    assert response.status_code == 403
    page = response.content.decode()
    assert "Only administrators may see the dashboard." in page
    assert "Back to your workspaces" in page


def test_a_decision_the_dashboard_does_not_know_is_a_404_with_why(client, carol, mallory):
    client.force_login(carol)
    response = client.post(f"/dashboard/people/{mallory.pk}/promote/")
    assert response.status_code == 404
    assert "Unknown decision &#x27;promote&#x27;" in response.content.decode()
    mallory.refresh_from_db()
    assert mallory.approval == "pending"


def test_admins_approve_and_reject_on_the_dashboard(client, carol, mallory, bob, workspace_of):
    workspace_of(bob, state=Workspace.State.RUNNING, cpu=1.5)
    client.force_login(carol)
    page = client.get("/dashboard/").content.decode()
    assert 'data-person="mallory"' in page
    assert "1.5 of" in page  # CPU in use against the machine's cores
    client.post(f"/dashboard/people/{mallory.pk}/approve/")
    mallory.refresh_from_db()
    assert mallory.approval == "approved"
    client.post(f"/dashboard/people/{mallory.pk}/reject/", {"reason": "Wrong course"})
    mallory.refresh_from_db()
    assert (mallory.approval, mallory.rejection_reason) == ("rejected", "Wrong course")


def test_extending_on_the_page(client, alice, bob, workspace_of):
    workspace = workspace_of(alice, expires_at=timezone.now() + timedelta(days=1))
    client.force_login(bob)
    assert client.post(f"/workspaces/{workspace.pk}/extend/", {"days": 5}).status_code == 404
    client.force_login(alice)
    client.post(f"/workspaces/{workspace.pk}/extend/", {"days": 5})
    workspace.refresh_from_db()
    assert workspace.time_left > timedelta(days=4)
    answer = client.post(f"/workspaces/{workspace.pk}/extend/", {"days": "lots"}, follow=True)
    assert "Days must be a whole number, like 7." in answer.content.decode()


def test_only_admins_get_the_owner_field(client, alice, carol):
    client.force_login(alice)
    assert b'name="owner"' not in client.get("/").content
    client.force_login(carol)
    page = client.get("/").content.decode()
    assert 'name="owner"' in page and '<option value="alice">alice</option>' in page


def test_an_admin_creating_for_someone_reaches_the_hub_as_them(client, carol, alice):
    client.force_login(carol)
    page = client.post(
        "/workspaces/create/", {"name": "lab", "template": "default", "owner": "alice"}
    )
    # The hub is down in unit tests: the request got as far as starting it, then nothing is kept.
    assert "JupyterHub is unavailable" in page.content.decode()
    assert not Workspace.objects.exists()


def test_the_create_form_carries_each_templates_bounds(client, alice):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'data-cpu-max="2.0"' in page and 'data-memory-max="4096"' in page


def test_user_hub_mode_makes_one_workspace_and_no_create_form(client, alice, settings):
    settings.NAMED_WORKSPACES = False
    settings.DEFAULT_WORKSPACE_NAME = "home"
    client.force_login(alice)  # the login signal makes it
    assert list(Workspace.objects.values_list("owner__username", "name")) == [("alice", "home")]
    page = client.get("/").content.decode()
    assert 'data-workspace="home"' in page and "New workspace" not in page
    response = client.post("/workspaces/create/", {"name": "second", "template": "default"})
    assert "one workspace" in response.content.decode()
    assert Workspace.objects.count() == 1


def test_user_hub_mode_makes_nothing_for_people_waiting(client, mallory, settings):
    settings.NAMED_WORKSPACES = False
    client.force_login(mallory)
    client.get("/")
    assert not Workspace.objects.exists()


def test_branding_by_setting(client, alice, settings, tmp_path):
    settings.BRAND_NAME = "Data Lab"
    settings.BRAND_LOGO_FILE = str(tmp_path / "logo")
    client.force_login(alice)
    assert b"<title>My workspaces \xc2\xb7 Data Lab</title>" in client.get("/").content
    assert client.get("/branding/logo").status_code == 404
    (tmp_path / "logo").write_bytes(b"\x89PNG\r\n")
    assert b'src="/branding/logo"' in client.get("/").content
    logo = client.get("/branding/logo")
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0"), (25_275_222_016, "23.5G"), (512 * 2**20, "512M"), (3 * 2**40, "3T"), (100, "100B")],
)
def test_the_dashboard_rounds_sizes_for_people(size, shown):
    from portal.workspaces.dashboard import readable_size

    assert readable_size(size) == shown


def test_a_queued_user_hub_workspace_shows_as_starting(client, alice, settings):
    settings.NAMED_WORKSPACES = False
    client.force_login(alice)  # made, and its start queued for the task cluster
    page = client.get("/").content.decode()
    assert 'data-state="starting"' in page and "Queued to start" in page
    assert ">Start</button>" not in page
    (workspace,) = Workspace.objects.all()
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(alice)
    shown = api.get(f"/api/v1/workspaces/{workspace.pk}/").json()
    assert (shown["state"], shown["start_queued"]) == ("stopped", True)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            "GOOD=1\nno equals sign",
            "Line 2 has no &#x27;=&#x27;: write each variable as NAME=value.",
        ),
        ("1BAD=x", "env name &#x27;1BAD&#x27; is not valid: use letters, digits and _"),
    ],
)
def test_bad_environment_lines_on_the_page_are_explained(client, alice, env, message):
    client.force_login(alice)
    form = {"name": "lab", "template": "default", "env": env}
    page = client.post("/workspaces/create/", form).content.decode()
    assert message in page
    assert not Workspace.objects.exists()
