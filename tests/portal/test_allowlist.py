"""The allow-list (database entries and the dynamic whitelist file): off until it names
someone; then only those named sign up, log in to the hub or create workspaces; admins always."""

from __future__ import annotations

import pytest

from portal.accounts.models import AllowListEntry, User
from portal.workspaces.models import Workspace
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ALLOWLIST = "/api/v1/allowlist/"
NOT_ALLOWED = "Your account is not on this hub's allow-list; ask an administrator."


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def signup(api, username, email="x@example.org"):
    body = {"username": username, "email": email, "password": PASSWORD}
    return api.post("/api/v1/auth/signup/", body, format="json")


def add(api, kind, value):
    return api.post(ALLOWLIST, {"kind": kind, "value": value}, format="json")


def test_without_a_list_everyone_may_sign_up(api):
    assert signup(api, "dave").status_code == 201


def test_with_a_list_only_those_named_sign_up(api, carol):
    api.force_authenticate(carol)
    assert add(api, "username", "Dave").status_code == 201
    assert add(api, "domain", "@Uni.EDU").json()["value"] == "uni.edu"
    api.force_authenticate(None)
    assert signup(api, "dave").status_code == 201
    assert signup(api, "erin", "erin@uni.edu").status_code == 201
    refused = signup(api, "frank", "frank@elsewhere.org")
    assert refused.status_code == 403
    assert refused.json() == {"detail": NOT_ALLOWED, "code": "signup_refused"}
    assert not User.objects.filter(username="frank").exists()


def test_people_off_the_list_cannot_log_in_to_the_hub_or_create(api, alice, carol):
    api.force_authenticate(carol)
    add(api, "username", "bob")
    api.force_authenticate(alice)
    assert api.get("/api/v1/me/").json()["refused"] == NOT_ALLOWED
    response = api.post("/api/v1/workspaces/", {"name": "thesis"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": NOT_ALLOWED, "code": "access_refused"}
    assert not Workspace.objects.exists()


def test_admins_are_never_locked_out(api, carol):
    api.force_authenticate(carol)
    add(api, "username", "bob")
    assert api.get("/api/v1/me/").json()["approved"] is True


def test_the_file_is_read_again_at_every_check(api, alice, settings, tmp_path):
    whitelist = tmp_path / "users" / "dynamic_whitelist.txt"
    settings.DYNAMIC_WHITELIST_ENABLED = True
    settings.DYNAMIC_WHITELIST_FILE = str(whitelist)
    api.force_authenticate(alice)
    assert api.get("/api/v1/me/").json()["refused"] == NOT_ALLOWED  # enabled, no file yet
    whitelist.parent.mkdir()
    whitelist.write_text("# the course\nbob\n  ALICE  # late\n")
    assert api.get("/api/v1/me/").json()["approved"] is True
    whitelist.write_text("bob\n")
    assert api.get("/api/v1/me/").json()["approved"] is False


def test_an_unreadable_file_lets_only_admins_in_and_says_why(
    api, alice, carol, settings, tmp_path, caplog
):
    settings.DYNAMIC_WHITELIST_ENABLED = True
    settings.DYNAMIC_WHITELIST_FILE = str(tmp_path)  # a folder: unreadable as a file, even by root

    api.force_authenticate(alice)
    assert api.get("/api/v1/me/").json()["refused"] == NOT_ALLOWED
    api.force_authenticate(carol)
    assert api.get("/api/v1/me/").json()["approved"] is True

    assert f"Dynamic whitelist {tmp_path} cannot be read" in caplog.text


@pytest.mark.parametrize(
    ("kind", "value", "answer"),
    [
        (
            "domain",
            "not a domain",
            {
                "detail": "'not a domain' is not an e-mail domain (like example.org).",
                "code": "invalid",
            },
        ),
        (
            "username",
            "has space",
            {
                "detail": "'has space' is not a username: A username may hold only letters, "
                "digits and @/./+/-/_ characters (150 at most).",
                "code": "invalid",
            },
        ),
        ("team", "x", {"kind": ['"team" is not a valid choice.']}),
    ],
)
def test_bad_entries_are_400(api, carol, kind, value, answer):
    api.force_authenticate(carol)
    response = add(api, kind, value)
    assert response.status_code == 400
    assert response.json() == answer
    assert not AllowListEntry.objects.exists()


def test_a_duplicate_entry_is_409(api, carol):
    api.force_authenticate(carol)
    add(api, "username", "bob")
    response = add(api, "username", "BOB")
    assert response.status_code == 409
    assert response.json() == {"detail": "'bob' is already on the allow-list.", "code": "conflict"}


def test_only_admins_see_or_change_it(api, alice):
    assert api.get(ALLOWLIST).status_code == 401
    api.force_authenticate(alice)
    for response in (api.get(ALLOWLIST), add(api, "username", "alice")):
        assert response.status_code == 403
        assert response.json() == {
            "detail": "Only administrators may do this.",
            "code": "admin_only",
        }
    assert not AllowListEntry.objects.exists()


def test_removing_an_entry_locks_its_person_out_again(api, carol, alice):
    api.force_authenticate(carol)
    add(api, "username", "bob")
    alices = add(api, "username", "alice").json()["id"]
    assert api.delete(f"{ALLOWLIST}{alices}/").status_code == 204
    api.force_authenticate(alice)
    assert api.get("/api/v1/me/").json()["approved"] is False


def test_the_admin_site_adds_through_the_service(client, carol):
    client.force_login(carol)
    bad = client.post("/admin/accounts/allowlistentry/add/", {"kind": "domain", "value": "x"})
    assert bad.status_code == 200 and b"is not an e-mail domain" in bad.content
    good = client.post(
        "/admin/accounts/allowlistentry/add/", {"kind": "domain", "value": "@Uni.edu"}
    )
    assert good.status_code == 302
    assert AllowListEntry.objects.get().value == "uni.edu"
    from portal.audit.models import AuditEntry

    assert AuditEntry.objects.get(action="allowlist.add").source == "admin"
