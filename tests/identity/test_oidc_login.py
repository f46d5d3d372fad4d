"""Logging in to the portal through a real OpenID Provider (portal/accounts/oidc.py): the
portal's side of the flow in Django's test client, the provider's in requests, as a browser
would go between them. The browser itself: tests/browser/test_institutional_login.py."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from portal.accounts import oidc
from portal.accounts.login_config import OidcConfig
from portal.accounts.models import NOT_ALLOWED, AllowListEntry, User
from tests.identity.oidc import OidcProvider
from tests.identity.test_oidc_provider import follow_on_provider, sign_in

CLIENT_ID, CLIENT_SECRET = "mlhub-portal", "portal-secret"
PASSWORD = "provider-password"
pytestmark = pytest.mark.django_db


def callback_url() -> str:
    return f"{django_settings.PUBLIC_URL}/accounts/oidc/callback/"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oidc-login")
    with OidcProvider(folder, CLIENT_ID, CLIENT_SECRET, [callback_url()]) as running:
        running.add_person("ada", PASSWORD, email="ada@example.org", groups=["students"])
        running.add_person("bea", PASSWORD, groups=["visitors"])
        running.add_person("alice", PASSWORD)
        running.add_person("mo", PASSWORD, email="mo@uni.example", email_verified=False)
        running.add_person("nia", PASSWORD, email="nia@uni.example")
        running.add_person("аlice", PASSWORD)  # a Cyrillic "а": a name the portal refuses
        yield running


@pytest.fixture(autouse=True)
def configured(settings, provider):
    settings.OIDC = OidcConfig(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        name="Test IdP",
        scopes="openid profile email groups",
        username_claim="preferred_username",
        groups_claim="groups",
    )
    settings.AUTO_APPROVE_GROUPS = frozenset({"students"})
    oidc._clients.clear()  # noqa: SLF001 -- the provider's keys are per test module


def to_provider(client, next_page: str = "") -> requests.Response:
    """Click "Log in with ...": the portal's redirect, followed to the provider's login page
    (the browser's session with the provider rides on it: ``page.session``)."""
    start = client.get("/accounts/oidc/login/", {"next": next_page} if next_page else {})
    assert start.status_code == 302, start.content[:300]
    authorize = start["Location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    session = requests.Session()
    page = follow_on_provider(session, session.get(authorize, allow_redirects=False, timeout=5))
    page.session = session
    return page


def back_from_provider(client, page: requests.Response, username: str, password=PASSWORD):
    """Sign in at the provider; the portal's answer to the provider's redirect back."""
    answer = sign_in(page.session, page, username, password)
    return client.get(answer.headers["Location"].removeprefix(django_settings.PUBLIC_URL))


def logged_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_a_member_of_an_auto_approve_group_logs_in_approved_and_goes_on(client, provider):
    answer = back_from_provider(client, to_provider(client, "/workspaces/create/"), "ada")
    assert answer.status_code == 302 and answer["Location"] == "/workspaces/create/"
    user = logged_in_as(client)
    assert (user.username, user.email, user.login_provider) == ("ada", "ada@example.org", "oidc")
    assert user.is_approved and list(user.groups.values_list("name", flat=True)) == ["students"]
    assert client.get("/").status_code == 200


def test_someone_else_waits_for_approval(client, provider):
    answer = back_from_provider(client, to_provider(client), "bea")
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert logged_in_as(client).approval == User.Approval.PENDING


def test_groups_changed_at_the_provider_change_at_the_next_login(client, provider):
    back_from_provider(client, to_provider(client), "bea")
    provider.set_groups("bea", ["students", "chemistry"])
    try:
        client.logout()
        back_from_provider(client, to_provider(client), "bea")
        user = logged_in_as(client)
        assert sorted(user.groups.values_list("name", flat=True)) == ["chemistry", "students"]
        assert user.is_approved
    finally:
        provider.set_groups("bea", ["visitors"])


def test_a_tampered_state_is_refused_and_nobody_is_logged_in(client, provider):
    page = to_provider(client)
    answer = sign_in(page.session, page, "ada", PASSWORD)
    location = answer.headers["Location"].removeprefix(django_settings.PUBLIC_URL)
    tampered = location.replace("state=", "state=x")
    response = client.get(tampered)
    assert response.status_code == 400
    assert "This login could not be checked" in response.content.decode()
    assert logged_in_as(client) is None and not User.objects.filter(username="ada").exists()


def test_a_code_from_another_browser_is_refused(client, provider, django_user_model):
    page = to_provider(client)
    answer = sign_in(page.session, page, "ada", PASSWORD)
    other = type(client)()  # a browser that did not start this login: no state in its session
    response = other.get(answer.headers["Location"].removeprefix(django_settings.PUBLIC_URL))
    assert response.status_code == 400 and "_auth_user_id" not in other.session


def test_an_id_token_whose_nonce_is_not_this_logins_is_refused(client, provider):
    page = to_provider(client)
    # Authlib keeps each login's state data, nonce included, in the session under this key.
    session = client.session
    (key,) = [name for name in session.keys() if name.startswith("_state_organisation_")]
    session[key] = {**session[key], "data": {**session[key]["data"], "nonce": "another"}}
    session.save()
    response = back_from_provider(client, page, "ada")
    assert response.status_code == 400
    assert "This login could not be checked" in response.content.decode()
    assert logged_in_as(client) is None and not User.objects.filter(username="ada").exists()


def test_a_local_account_of_the_same_name_is_not_taken_over(client, provider, alice):
    response = back_from_provider(client, to_provider(client), "alice")
    assert response.status_code == 403
    assert "already exists here and logs in with a local password" in response.content.decode()
    assert logged_in_as(client) is None


def test_a_name_the_portal_refuses_is_refused_with_why(client, provider):
    response = back_from_provider(client, to_provider(client), "аlice")
    assert response.status_code == 403 and "cannot be a username here" in response.content.decode()
    assert not User.objects.exists()


def test_an_allow_listed_domain_lets_in_only_an_address_the_provider_verified(client, provider):
    AllowListEntry.objects.create(kind=AllowListEntry.Kind.DOMAIN, value="uni.example")
    refused = back_from_provider(client, to_provider(client), "mo")
    assert refused.status_code == 403 and escape(NOT_ALLOWED) in refused.content.decode()
    assert back_from_provider(client, to_provider(client), "nia").status_code == 302
    assert logged_in_as(client).email == "nia@uni.example"


def test_the_providers_refusal_is_shown(client, provider):
    response = client.get("/accounts/oidc/callback/", {"error": "access_denied"})
    assert response.status_code == 403
    assert "Test IdP did not log you in: access_denied" in response.content.decode()


def test_a_provider_that_is_down_gets_a_503_and_the_local_admin_still_logs_in(
    client, provider, carol
):
    provider.stop()
    try:
        response = client.get("/accounts/oidc/login/")
        assert response.status_code == 503
        assert "Test IdP does not answer now" in response.content.decode()
        login = client.post(
            "/accounts/login/", {"username": "carol", "password": "correct-horse-battery"}
        )
        assert login.status_code == 302 and logged_in_as(client) == carol
    finally:
        provider.start()


def test_a_provider_that_goes_down_after_a_login_is_said_so_too(client, provider):
    back_from_provider(client, to_provider(client), "ada")  # the client has its document
    client.logout()
    provider.stop()
    try:
        response = client.get("/accounts/oidc/login/")
        assert response.status_code == 503
        assert "Test IdP does not answer now" in response.content.decode()
    finally:
        provider.start()


def test_the_login_page_offers_the_provider(client):
    page = client.get("/accounts/login/?next=/workspaces/create/").content.decode()
    assert "Log in with Test IdP" in page
    assert 'href="/accounts/oidc/login/?next=/workspaces/create/"' in page
