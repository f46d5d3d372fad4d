"""The one rule for people an organisation's provider logs in (portal/accounts/organisation.py),
local passwords for admins only (portal/accounts/backends.py), and the settings' refusals
(portal/accounts/login_config.py). The providers themselves: tests/identity/."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Group

from lib import env
from portal.accounts import login_config, organisation
from portal.accounts.models import NOT_ALLOWED, AllowListEntry, User
from portal.audit.models import AuditEntry
from tests.conftest import PASSWORD

OIDC = User.LoginProvider.OIDC
LDAP = User.LoginProvider.LDAP


def joined(username: str, provider=OIDC, groups=(), email="") -> User:
    user = organisation.person_for(provider=provider, username=username, email=email)
    user.save()
    return organisation.logged_in(user=user, groups=groups)


@pytest.fixture(autouse=True)
def _auto_approve(settings):
    settings.AUTO_APPROVE_GROUPS = frozenset({"students"})


def test_a_first_login_makes_a_waiting_person_without_a_usable_password(db):
    user = joined("Dana", email="dana@example.org")
    assert (user.username, user.hub_name, user.login_provider) == ("Dana", "dana", OIDC)
    assert user.approval == User.Approval.PENDING and not user.has_usable_password()
    assert organisation.person_for(provider=OIDC, username="DANA").pk == user.pk


@pytest.mark.parametrize("provider", [OIDC, LDAP])
@pytest.mark.parametrize("typed", ["alice", "ALICE", "ａｌｉｃｅ"])
def test_a_provider_never_takes_over_a_local_account_of_the_same_hub_name(alice, typed, provider):
    with pytest.raises(organisation.LoginRefused) as refused:
        organisation.person_for(provider=provider, username=typed)
    assert refused.value.status == 403
    assert "'alice' already exists here and logs in with a local password" in refused.value.message
    assert "hand it over" in refused.value.message
    assert User.objects.count() == 1


def test_nor_another_providers_account_until_an_admin_hands_it_over(db):
    ldap_person = joined("erin", provider=LDAP)
    with pytest.raises(organisation.LoginRefused, match="logs in through"):
        organisation.person_for(provider=OIDC, username="erin")
    ldap_person.login_provider = OIDC
    ldap_person.save()
    assert organisation.person_for(provider=OIDC, username="erin").pk == ldap_person.pk


@pytest.mark.parametrize("name", ["аlice", "a/b", "..", "-"])
def test_a_name_that_cannot_be_a_username_is_refused_and_nobody_is_made(db, name):
    with pytest.raises(organisation.LoginRefused, match="cannot be a username here"):
        organisation.person_for(provider=OIDC, username=name)
    assert not User.objects.exists()


def test_the_allow_list_keeps_newcomers_out_and_lets_its_names_and_domains_in(db):
    AllowListEntry.objects.create(kind=AllowListEntry.Kind.DOMAIN, value="uni.example")
    with pytest.raises(organisation.LoginRefused) as refused:
        organisation.person_for(provider=OIDC, username="stranger", email="s@elsewhere.example")
    assert refused.value.message == NOT_ALLOWED
    assert joined("member", email="m@uni.example").pk


def test_groups_follow_the_provider_and_the_admins_own_groups_stay(db):
    user = joined("fay", groups=["ml-course", "physics"])
    admins_group = Group.objects.create(name="gpu-pilot")
    user.groups.add(admins_group)
    organisation.logged_in(user=user, groups=["physics", "chemistry"])
    assert sorted(user.groups.values_list("name", flat=True)) == [
        "chemistry",
        "gpu-pilot",
        "physics",
    ]
    assert user.provider_groups == ["chemistry", "physics"]
    change = AuditEntry.objects.filter(action="user.groups").latest("pk")
    assert change.detail == "+chemistry -ml-course"


def test_a_waiting_member_of_an_auto_approve_group_is_approved(db):
    user = joined("gus", groups=["visitors"])
    assert user.approval == User.Approval.PENDING
    organisation.logged_in(user=user, groups=["students"])
    user.refresh_from_db()
    assert user.approval == User.Approval.APPROVED and user.approved_at
    entry = AuditEntry.objects.get(action="user.approve", target="gus")
    assert entry.actor is None and "students" in entry.detail


def test_a_rejected_person_stays_rejected_whatever_their_groups(db):
    user = joined("hal")
    user.approval = User.Approval.REJECTED
    user.save()
    organisation.logged_in(user=user, groups=["students"])
    user.refresh_from_db()
    assert user.approval == User.Approval.REJECTED


@pytest.fixture
def admins_only(settings):
    settings.LOCAL_LOGIN = "admins"


def test_with_local_passwords_for_admins_only_a_person_is_refused_and_told_where_to_go(
    client, alice, admins_only, settings
):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "Local passwords are for administrators here" in response.content.decode()


def test_with_local_passwords_for_admins_only_an_admin_logs_in(client, carol, admins_only):
    response = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == carol.pk


def test_a_session_a_local_password_made_ends_when_local_login_becomes_admins_only(
    client, alice, settings
):
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert client.get("/").status_code == 200
    settings.LOCAL_LOGIN = "admins"
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"MLHUB_OIDC_ISSUER": "keycloak.example.org"}, "is not an http(s) URL"),
        ({"MLHUB_OIDC_ISSUER": "https://id.example.org"}, "MLHUB_OIDC_CLIENT_ID and"),
        ({"MLHUB_LDAP_URI": "ldap://dc"}, "set either MLHUB_LDAP_USER_DN_TEMPLATE"),
        ({"MLHUB_LDAP_URI": "dc.example.org"}, "is not an ldap:// or ldaps:// URL"),
        (
            {"MLHUB_LDAP_URI": "ldap://dc", "MLHUB_LDAP_USER_DN_TEMPLATE": "uid=x,dc=org"},
            "must contain {username}",
        ),
        (
            {
                "MLHUB_LDAP_URI": "ldap://dc",
                "MLHUB_LDAP_USER_SEARCH_BASE": "dc=org",
                "MLHUB_LDAP_GROUP_TYPE": "nis",
            },
            "is not one of",
        ),
        ({"MLHUB_LOCAL_LOGIN": "nobody"}, "is not 'all' or 'admins'"),
    ],
)
def test_a_bad_provider_setting_stops_the_start_with_its_name(monkeypatch, variables, refusal):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(env.ConfigError, match=re.escape(refusal)):
        login_config.oidc_config()
        login_config.ldap_config()
        login_config.local_login()


def test_ldap_settings_take_our_placeholder_and_the_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "bind"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("MLHUB_LDAP_URI", "ldaps://dc.example.org")
    monkeypatch.setenv("MLHUB_LDAP_USER_SEARCH_BASE", "ou=people,dc=example,dc=org")
    monkeypatch.setenv("MLHUB_LDAP_USER_FILTER", "(&(sAMAccountName={username})(x=100%))")
    monkeypatch.setenv("MLHUB_LDAP_BIND_PASSWORD_FILE", str(secret))
    config = login_config.ldap_config()
    assert config.user_filter == "(&(sAMAccountName=%(user)s)(x=100%%))"
    assert config.bind_password == "s3cret"


def test_the_account_page_says_how_a_provider_person_logs_in_and_offers_no_password(client, db):
    user = joined("ivy", groups=["students", "physics"])
    client.force_login(user)
    page = client.get("/accounts/").content.decode()
    assert "You log in through OpenID Connect, which puts you in physics, students." in page
    assert "Change password" not in page


class CountingHasher(MD5PasswordHasher):
    """MD5, counting every password it hashes."""

    algorithm = "counting-md5"
    hashed = 0

    def encode(self, password, salt):
        CountingHasher.hashed += 1
        return super().encode(password, salt)


def test_a_providers_person_costs_no_local_password_hash(client, settings, db):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher", *settings.PASSWORD_HASHERS]
    joined("lena", provider=LDAP)
    CountingHasher.hashed = 0
    client.post("/accounts/login/", {"username": "lena", "password": "her-directory-one"})
    assert CountingHasher.hashed == 0
    client.post("/accounts/login/", {"username": "nobody", "password": "a-guess"})
    assert CountingHasher.hashed == 1  # a name nobody has is hashed, as before: time tells nothing
