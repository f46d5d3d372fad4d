"""One person, one hub account: names that differ only in case or Unicode form are one name
on every database, look-alike and dot names are refused, and every way in agrees
(sign-up, an admin's create, the admin site, login, the allow-list, the hub's reports)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from portal.accounts import allowlist
from portal.accounts.models import AllowListEntry, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
SIGNUP = "/api/v1/auth/signup/"
TAKEN = "A user with that username already exists."
# The pairs the security probe turned into one hub account.
TWINS = [("jürgen", "jÜrgen"), ("ß", "ẞ"), ("ǅ", "Ǆ"), ("ss", "ẞ"), ("alice", "Ａlice")]


@pytest.fixture(autouse=True)
def _fresh_throttles(fresh_throttles):
    """Throttle counts of this file's requests start at none (tests/conftest.py)."""


def signup(api, username: str):
    body = {"username": username, "email": "x@example.org", "password": PASSWORD}
    return api.post(SIGNUP, body, format="json")


@pytest.mark.parametrize(("first", "second"), TWINS)
def test_a_sign_up_that_would_share_a_hub_account_is_refused(api, make_person, first, second):
    victim = make_person(first)
    response = signup(api, second)
    assert response.status_code == 400
    assert response.json() == {"username": [TAKEN]}
    assert list(User.objects.all()) == [victim]


@pytest.mark.parametrize(("first", "second"), TWINS)
def test_an_admin_cannot_create_a_second_person_for_one_hub_account(
    api, carol, make_person, first, second
):
    make_person(first)
    api.force_authenticate(carol)
    response = api.post("/api/v1/users/", {"username": second}, format="json")
    assert response.status_code == 400
    assert response.json() == {"username": [TAKEN]}
    assert User.objects.count() == 2  # carol and the first


def test_the_admin_site_refuses_a_second_person_for_one_hub_account(client, carol, make_person):
    make_person("jürgen")
    client.force_login(carol)
    form = {"username": "jÜrgen", "password1": "", "password2": ""}
    form["usable_password"] = "false"
    response = client.post("/admin/accounts/user/add/", form)
    assert response.status_code == 200  # the form again, with the error
    assert TAKEN in response.content.decode()
    assert User.objects.count() == 2


@pytest.mark.parametrize(("first", "second"), TWINS)
def test_the_database_itself_refuses_two_rows_for_one_hub_account(make_person, first, second):
    # Past every check in Python (no clean()): the unique hub_name column still holds.
    make_person(first)
    with pytest.raises(IntegrityError), transaction.atomic():
        User(username=second).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(username=second)])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (".", "A username needs at least one letter or digit."),
        ("..", "A username needs at least one letter or digit."),
        ("аlice", "A username may not mix scripts that look alike (Cyrillic, Latin)."),
    ],
)
def test_dot_names_and_mixed_script_look_alikes_are_refused(api, name, message):
    response = signup(api, name)
    assert response.status_code == 400
    assert response.json() == {"username": [message]}
    assert not User.objects.exists()


def test_a_person_keeps_the_name_as_typed_and_the_hub_gets_the_folded_one(api):
    assert signup(api, "Jürgen").status_code == 201
    person = User.objects.get()
    assert (person.username, person.hub_name) == ("Jürgen", "jürgen")


def test_logging_in_with_another_case_or_form_is_the_same_person(api, make_person):
    make_person("Jürgen")
    for typed in ("jürgen", "JÜRGEN", "ju\u0308rgen"):
        response = api.post("/api/v1/auth/token/", {"username": typed, "password": PASSWORD})
        assert response.status_code == 200, typed
        api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
        assert api.get("/api/v1/me/").json()["hub_name"] == "jürgen"
        api.credentials()


def test_a_rename_moves_the_hub_name_with_it(make_person):
    person = make_person("jurgen")
    person.username = "Jürgen"
    person.save(update_fields=["username"])
    assert User.objects.get(pk=person.pk).hub_name == "jürgen"
    with pytest.raises(TypeError):
        User.objects.filter(pk=person.pk).update(username="other")


def test_the_allow_list_compares_hub_forms(settings, tmp_path, carol):
    allowlist.allowlist_add(kind=AllowListEntry.Kind.USERNAME, value="JÜRGEN", by=carol)
    assert AllowListEntry.objects.get().value == "jürgen"
    assert allowlist.allows(username="ju\u0308rgen")
    assert not allowlist.allows(username="jurgen")
    AllowListEntry.objects.all().delete()
    whitelist = tmp_path / "dynamic_whitelist.txt"
    whitelist.write_text("ẞtraße\n", encoding="utf-8")
    settings.DYNAMIC_WHITELIST_ENABLED = True
    settings.DYNAMIC_WHITELIST_FILE = str(whitelist)
    assert allowlist.allows(username="sstrasse")
    assert not allowlist.allows(username="strase")


def test_a_look_alike_cannot_be_put_on_the_allow_list(api, carol):
    api.force_authenticate(carol)
    body = {"kind": "username", "value": "аlice"}
    response = api.post("/api/v1/allowlist/", body, format="json")
    assert response.status_code == 400
    assert "may not mix scripts" in response.json()["detail"]
    assert not AllowListEntry.objects.exists()


def test_the_hubs_reports_find_the_person_by_their_hub_name(make_person, workspace_of):
    from django.utils import timezone

    from portal.workspaces import sync

    thesis = workspace_of(make_person("Jürgen"))
    found, changed = sync.state_report(
        user="jürgen", server="thesis", state="running", at=timezone.now()
    )
    assert (found, changed) == (thesis, True)


def test_an_admin_names_a_person_in_any_case_or_form(api, carol, make_person, workspace_of):
    # Creating for, adding keys for and listing by "JÜRGEN" all mean the one jürgen.
    from portal.workspaces.services import workspace_owner_for
    from tests.portal.test_ssh_keys import add, ed25519_key, public_line

    jurgen = make_person("jürgen")
    workspace_of(jurgen)
    assert workspace_owner_for(by=carol, username="JÜRGEN") == jurgen
    assert workspace_owner_for(by=jurgen, username="JÜRGEN") == jurgen  # their own
    api.force_authenticate(carol)
    response = add(api, public_line(ed25519_key()), owner="JÜRGEN")
    assert response.status_code == 201
    assert response.json()["owner"] == "jürgen"
    assert api.get("/api/v1/ssh-keys/", {"owner": "JU\u0308RGEN"}).json()["count"] == 1
    assert api.get("/api/v1/workspaces/", {"owner": "Jürgen"}).json()["count"] == 1
