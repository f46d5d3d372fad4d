"""The LDAP directory the login tests rely on, checked against the real slapd it starts.

If the helper were wrong (a password hash slapd cannot check, groups that keep old members,
TLS that only seems to work), the LDAP login tests would test the helper, not the portal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.parts import require, require_module

require_module("ldap", "python-ldap is not installed (requirements-ldap.txt, make setup)")

import ldap  # noqa: E402

from tests.identity.ldap_server import SLAPD, LdapServer  # noqa: E402


@pytest.fixture(scope="module")
def slapd_installed():
    # SLAPD is where PATH finds slapd, else Debian's /usr/sbin/slapd (not on a user's PATH).
    require(Path(SLAPD).exists(), "OpenLDAP's slapd is not installed (apt-get install slapd)")


@pytest.fixture(scope="module")
def directory(slapd_installed, tmp_path_factory):
    with LdapServer(tmp_path_factory.mktemp("ldap")) as server:
        yield server


@pytest.fixture(scope="module")
def tls_directory(slapd_installed, tmp_path_factory):
    with LdapServer(tmp_path_factory.mktemp("ldaps"), tls=True) as server:
        server.add_person("tess", "tess-password")
        yield server


def bind(server: LdapServer, uid: str, password: str) -> str:
    conn = server.connect()
    try:
        conn.simple_bind_s(server.person_dn(uid), password)
        return conn.whoami_s()
    finally:
        conn.unbind_s()


def groups_of(server: LdapServer, uid: str) -> set[str]:
    conn = server.connect()
    try:
        found = conn.search_s(
            server.groups_dn,
            ldap.SCOPE_SUBTREE,
            f"(&(objectClass=groupOfNames)(member={server.person_dn(uid)}))",
            ["cn"],
        )
    finally:
        conn.unbind_s()
    return {attrs["cn"][0].decode() for _, attrs in found}


def trusting(conn, ca_file: Path | None):
    # Per connection, then a new TLS context: options set globally or in /etc/ldap/ldap.conf
    # (its TLS_CACERT is the system's bundle) must not decide what is trusted here.
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    if ca_file:
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(ca_file))
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    return conn


def test_a_person_binds_with_their_password_and_no_other(directory):
    dn = directory.add_person("alice", "alice-password", "alice@example.org", "Alice Liddell")

    assert bind(directory, "alice", "alice-password") == f"dn:{dn}"
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        bind(directory, "alice", "wrong-password")

    directory.set_password("alice", "new-password")
    assert bind(directory, "alice", "new-password") == f"dn:{dn}"
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        bind(directory, "alice", "alice-password")


def test_a_person_has_the_attributes_a_login_maps(directory):
    directory.add_person("bob", "bob-password", "bob@example.org", "Bob Marley")
    conn = directory.connect()
    [(_, attrs)] = conn.search_s(directory.person_dn("bob"), ldap.SCOPE_BASE)
    conn.unbind_s()

    assert attrs["mail"] == [b"bob@example.org"]
    assert attrs["cn"] == [b"Bob Marley"]
    assert attrs["sn"] == [b"Marley"]
    assert "userPassword" not in attrs  # readable by no one but its owner


def test_set_groups_makes_a_person_a_member_of_exactly_these(directory):
    directory.add_person("carol", "carol-password")
    directory.add_person("dave", "dave-password")
    directory.set_groups("dave", ["staff"])

    directory.set_groups("carol", ["staff", "ml-users"])
    assert groups_of(directory, "carol") == {"staff", "ml-users"}

    directory.set_groups("carol", ["ml-users", "gpu"])
    assert groups_of(directory, "carol") == {"ml-users", "gpu"}
    assert groups_of(directory, "dave") == {"staff"}

    directory.set_groups("carol", [])
    assert groups_of(directory, "carol") == set()


# libldap checks "localhost" against this machine's name, not "localhost": both must work.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_tls_works_when_the_ca_is_trusted(tls_directory, scheme, host):
    uri = tls_directory.ldaps_uri if scheme == "ldaps" else tls_directory.uri
    conn = trusting(tls_directory.connect(uri.replace("127.0.0.1", host)), tls_directory.ca_file)
    if scheme == "starttls":
        conn.start_tls_s()
    conn.simple_bind_s(tls_directory.person_dn("tess"), "tess-password")
    assert conn.get_option(ldap.OPT_X_TLS_VERSION)
    conn.unbind_s()


def test_starttls_fails_when_the_ca_is_not_trusted(tls_directory):
    conn = trusting(tls_directory.connect(), None)
    with pytest.raises(ldap.CONNECT_ERROR):
        conn.start_tls_s()


def test_a_stopped_directory_is_down_and_answers_again_once_started(slapd_installed, tmp_path):
    with LdapServer(tmp_path) as server:
        server.add_person("erin", "erin-password")
        server.stop()
        with pytest.raises(ldap.SERVER_DOWN):
            bind(server, "erin", "erin-password")

        server.start()
        assert bind(server, "erin", "erin-password") == f"dn:{server.person_dn('erin')}"
