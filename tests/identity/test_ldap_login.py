"""Logging in to the portal with a directory password (portal/accounts/ldap_backend.py)
against a real OpenLDAP slapd: the same login form as local accounts, in Django's test client.
The browser: tests/browser/test_institutional_login.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portal.accounts.login_config import LdapConfig
from portal.accounts.models import User
from tests.conftest import PASSWORD as LOCAL_PASSWORD
from tests.parts import require, require_module

require_module("ldap", "python-ldap is not installed (requirements-ldap.txt, make setup)")

from portal.accounts import ldap_settings  # noqa: E402
from tests.identity.ldap_server import SLAPD, LdapServer  # noqa: E402

PASSWORD = "directory-password"
pytestmark = pytest.mark.django_db
BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "portal.accounts.backends.LocalPasswords",
    "portal.accounts.ldap_backend.DirectoryBackend",
    "portal.accounts.backends.OrganisationSessions",
    "portal.accounts.backends.AdminsMayDoEverything",
]


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    require(Path(SLAPD).exists(), "OpenLDAP's slapd is not installed (apt-get install slapd)")
    with LdapServer(tmp_path_factory.mktemp("ldap-login"), tls=True) as server:
        server.add_person("lena", PASSWORD, email="lena@example.org", name="Lena Meyer")
        server.set_groups("lena", ["students"])
        server.add_person("otto", PASSWORD)
        server.set_groups("otto", ["visitors"])
        server.add_person("alice", PASSWORD)
        yield server


def direct_bind(server: LdapServer) -> LdapConfig:
    return LdapConfig(
        uri=server.uri,
        user_dn_template=f"uid=%(user)s,{server.people_dn}",
        bind_dn="",
        bind_password="",
        user_search_base="",
        user_filter="",
        start_tls=False,
        ca_file="",
        group_search_base=server.groups_dn,
        group_type="groupOfNames",
        name="the test directory",
    )


@pytest.fixture
def use_directory(settings):
    """``use_directory(config)``: the portal logs in through it from now on."""

    def use(config: LdapConfig) -> None:
        settings.LDAP = config
        settings.AUTHENTICATION_BACKENDS = BACKENDS
        for name, value in ldap_settings.django_settings(config).items():
            setattr(settings, name, value)

    settings.AUTO_APPROVE_GROUPS = frozenset({"students"})
    return use


@pytest.fixture
def configured(directory, use_directory):
    use_directory(direct_bind(directory))


def log_in(client, username: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def logged_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_a_directory_member_of_an_auto_approve_group_logs_in_approved(client, configured):
    assert log_in(client, "lena").status_code == 302
    user = logged_in_as(client)
    assert (user.username, user.login_provider, user.email) == ("lena", "ldap", "lena@example.org")
    assert user.last_name == "Meyer"  # sn; the directory has no givenName for her
    assert user.is_approved and list(user.groups.values_list("name", flat=True)) == ["students"]
    assert not user.has_usable_password()
    assert client.get("/").status_code == 200


def test_the_same_person_whatever_the_case_typed(client, configured):
    log_in(client, "lena")
    client.logout()
    assert log_in(client, "LENA").status_code == 302
    assert User.objects.get().username == "lena"


def test_a_wrong_password_is_refused_and_makes_nobody(client, configured):
    response = log_in(client, "otto", "not-it")
    assert response.status_code == 200 and "did not match" in response.content.decode()
    assert logged_in_as(client) is None and not User.objects.exists()


def test_groups_changed_in_the_directory_change_at_the_next_login(client, configured, directory):
    log_in(client, "otto")
    assert logged_in_as(client).approval == User.Approval.PENDING
    directory.set_groups("otto", ["students", "chemistry"])
    try:
        client.logout()
        log_in(client, "otto")
        user = logged_in_as(client)
        assert sorted(user.groups.values_list("name", flat=True)) == ["chemistry", "students"]
        assert user.is_approved
    finally:
        directory.set_groups("otto", ["visitors"])


def test_a_local_account_of_the_same_name_is_not_taken_over(client, configured, alice):
    response = log_in(client, "alice")  # the directory's password, not the local one
    page = response.content.decode()
    assert response.status_code == 200 and "already exists here" in page and "hand it over" in page
    assert logged_in_as(client) is None
    assert log_in(client, "alice", LOCAL_PASSWORD).status_code == 302  # its own password


def test_a_search_with_a_service_account_finds_the_person(client, directory, use_directory):
    use_directory(
        replace(
            direct_bind(directory),
            user_dn_template="",
            bind_dn=directory.admin_dn,
            bind_password=directory.admin_password,
            user_search_base=directory.people_dn,
            user_filter="(uid=%(user)s)",
        )
    )
    assert log_in(client, "lena").status_code == 302 and logged_in_as(client).username == "lena"


def test_starttls_and_ldaps_with_the_directorys_ca(client, directory, use_directory):
    secure = replace(direct_bind(directory), ca_file=str(directory.ca_file))
    use_directory(replace(secure, start_tls=True))
    assert log_in(client, "lena").status_code == 302
    client.logout()
    use_directory(replace(secure, uri=directory.ldaps_uri))
    assert log_in(client, "lena").status_code == 302


def test_starttls_without_trusting_the_directorys_certificate_logs_nobody_in(
    client, directory, use_directory, tmp_path
):
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    use_directory(replace(direct_bind(directory), start_tls=True, ca_file=str(other_ca)))
    response = log_in(client, "lena")
    assert response.status_code == 200 and "does not answer now" in response.content.decode()
    assert logged_in_as(client) is None


def test_a_directory_that_is_down_is_said_so_and_the_local_admin_still_logs_in(
    client, configured, directory, carol
):
    directory.stop()
    try:
        response = log_in(client, "lena")
        assert "the test directory does not answer now".capitalize() in response.content.decode()
        assert log_in(client, "carol", LOCAL_PASSWORD).status_code == 302
        assert logged_in_as(client) == carol
    finally:
        directory.start()


def test_with_local_passwords_for_admins_only_directory_people_still_log_in(
    client, configured, settings, alice
):
    settings.LOCAL_LOGIN = "admins"
    assert log_in(client, "lena").status_code == 302
    client.logout()
    refused = log_in(client, "alice", LOCAL_PASSWORD).content.decode()
    assert "Local passwords are for administrators here" in refused
    assert "with their password of the test directory" in refused
