"""The portal as the hub's OAuth2 provider: one exact callback, PKCE S256 only, and the
RFC 9700 settings (rotating refresh tokens with replay detection, hashed tokens, no token in
a URL), through the real django-oauth-toolkit endpoints."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ImproperlyConfigured
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    redirect_to_uri_allowed,
)
from oauth2_provider.settings import oauth2_settings

from portal.accounts.oauth import hub_oauth_client_ensure
from portal.accounts.oauth_validator import PLAIN_PKCE_REFUSED

pytestmark = pytest.mark.django_db

# A loopback IP public URL: the case where django-oauth-toolkit alone accepts any port.
PUBLIC_URL = "http://127.0.0.1:8000"
CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
OTHER_PORT = "http://127.0.0.1:8001/hub/oauth_callback"
SECRET = "hub-client-secret-for-the-tests-0123456789"  # 42 characters: long enough
STATE = "state-from-the-hub"
VERIFIER = secrets.token_urlsafe(48)
S256_CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


@pytest.fixture
def hub_client(settings):
    settings.PUBLIC_URL = settings.SITE_URL = PUBLIC_URL
    settings.OAUTH_CLIENT_SECRET = SECRET
    assert hub_oauth_client_ensure() == "created"
    return get_application_model().objects.get(client_id=settings.OAUTH_CLIENT_ID)


@pytest.fixture
def alice_browser(client, alice):
    client.force_login(alice)
    return client


def authorize(browser, client_id: str, **overrides):
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "profile",
        "state": STATE,
        "code_challenge": S256_CHALLENGE,
        "code_challenge_method": "S256",
        **overrides,
    }
    return browser.get("/o/authorize/", {k: v for k, v in params.items() if v is not None})


def callback_query(response) -> dict[str, list[str]]:
    """The query of a redirect to the hub's callback (and check it goes nowhere else)."""
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return parse_qs(location.query)


def code_for_alice(browser, hub_client) -> str:
    return callback_query(authorize(browser, hub_client.client_id))["code"][0]


def token_request(client, hub_client, **body):
    return client.post(
        "/o/token/", {"client_id": hub_client.client_id, "client_secret": SECRET, **body}
    )


def code_exchange(client, hub_client, code: str, verifier: str = VERIFIER):
    """The hub's trade of a code (with its PKCE verifier) for tokens."""
    return token_request(
        client,
        hub_client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    )


def test_the_hub_is_registered_with_exactly_its_callback(hub_client):
    assert hub_client.redirect_uris == CALLBACK
    assert hub_client.skip_authorization is True


def test_it_refuses_a_callback_on_another_port(alice_browser, hub_client):
    # What django-oauth-toolkit alone would let through (RFC 8252 loopback ports):
    assert redirect_to_uri_allowed(OTHER_PORT, [CALLBACK]) is True

    response = authorize(alice_browser, hub_client.client_id, redirect_uri=OTHER_PORT)

    # A bad callback is never redirected to: an error page instead (RFC 6749 4.1.2.1).
    assert response.status_code == 400
    assert not response.has_header("Location")
    error = response.context["error"]
    assert (error.error, error.description) == ("invalid_request", "Mismatching redirect URI.")
    assert get_grant_model().objects.count() == 0


def test_it_refuses_plain_pkce(alice_browser, hub_client):
    plain = {"code_challenge": VERIFIER, "code_challenge_method": "plain"}
    response = authorize(alice_browser, hub_client.client_id, **plain)

    assert callback_query(response) == {
        "error": ["invalid_request"],
        "error_description": [PLAIN_PKCE_REFUSED],
        "state": [STATE],
    }
    assert get_grant_model().objects.count() == 0


def test_it_refuses_a_challenge_without_a_method_which_means_plain(alice_browser, hub_client):
    response = authorize(alice_browser, hub_client.client_id, code_challenge_method=None)

    assert callback_query(response) == {
        "error": ["invalid_request"],
        "error_description": [PLAIN_PKCE_REFUSED],
        "state": [STATE],
    }
    assert get_grant_model().objects.count() == 0


def test_it_refuses_a_request_without_pkce(alice_browser, hub_client):
    no_pkce = {"code_challenge": None, "code_challenge_method": None}
    response = authorize(alice_browser, hub_client.client_id, **no_pkce)

    assert callback_query(response) == {
        "error": ["invalid_request"],
        "error_description": ["Code challenge required."],
        "state": [STATE],
    }


def test_it_gives_a_code_for_the_exact_callback_with_s256(alice_browser, hub_client, alice):
    query = callback_query(authorize(alice_browser, hub_client.client_id))

    assert sorted(query) == ["code", "iss", "state"]
    assert query["state"] == [STATE]
    # RFC 9207: who issued the code, so the hub can tell a mix-up.
    assert query["iss"] == [oauth2_settings.OIDC_ISS_ENDPOINT]
    grant = get_grant_model().objects.get()
    assert (grant.user, grant.redirect_uri, grant.code_challenge_method) == (
        alice,
        CALLBACK,
        "S256",
    )


def test_the_code_gives_a_token_that_reads_the_person(alice_browser, hub_client, client):
    code = code_for_alice(alice_browser, hub_client)
    client.logout()  # the hub's own call, not the browser's

    response = code_exchange(client, hub_client, code)

    assert response.status_code == 200
    tokens = response.json()
    assert (tokens["token_type"], tokens["expires_in"], tokens["scope"]) == (
        "Bearer",
        3600,
        "profile",
    )
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_tokens_are_stored_only_as_a_hash(alice_browser, hub_client, client):
    code = code_for_alice(alice_browser, hub_client)
    tokens = code_exchange(client, hub_client, code).json()

    stored = get_access_token_model().objects.get()
    assert stored.token == ""
    assert stored.token_checksum == hashlib.sha256(tokens["access_token"].encode()).hexdigest()


def test_a_wrong_code_verifier_gets_no_token(alice_browser, hub_client, client):
    code = code_for_alice(alice_browser, hub_client)

    response = code_exchange(client, hub_client, code, secrets.token_urlsafe(48))

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_a_refresh_token_works_once_and_a_replay_revokes_the_family(
    alice_browser, hub_client, client
):
    code = code_for_alice(alice_browser, hub_client)
    client.logout()
    first = code_exchange(client, hub_client, code).json()

    refreshed = token_request(
        client, hub_client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]  # rotated

    replay = token_request(
        client, hub_client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )

    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant"}
    # The replay ends the newest tokens too: whoever holds them is logged out.
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}")
    assert me.status_code == 401
    again = token_request(
        client, hub_client, grant_type="refresh_token", refresh_token=second["refresh_token"]
    )
    assert again.status_code == 400


def test_an_access_token_in_the_query_string_is_refused(alice_browser, hub_client, client):
    code = code_for_alice(alice_browser, hub_client)
    client.logout()
    tokens = code_exchange(client, hub_client, code).json()

    response = client.get("/api/v1/me/", {"access_token": tokens["access_token"]})

    assert response.status_code == 401


def test_the_client_secret_is_stored_as_a_hash_without_key_stretching(hub_client):
    algorithm, rounds, _salt, _digest = hub_client.client_secret.split("$")

    assert (algorithm, rounds) == ("pbkdf2_sha256_client_secret", "1000")
    assert SECRET not in hub_client.client_secret
    assert check_password(SECRET, hub_client.client_secret)
    assert not check_password(SECRET + "x", hub_client.client_secret)


def test_a_wrong_client_secret_gets_no_token(alice_browser, hub_client, client):
    code = code_for_alice(alice_browser, hub_client)

    response = client.post(
        "/o/token/",
        {
            "client_id": hub_client.client_id,
            "client_secret": SECRET[:-1] + "x",
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": VERIFIER,
        },
    )

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_a_secret_stored_by_another_hasher_is_hashed_again_at_setup(hub_client):
    # As an older portal stored it: the same secret under a password hasher.
    hub_client.client_secret = make_password(SECRET, hasher="md5")
    hub_client.save(update_fields=["client_secret"])
    hub_client.refresh_from_db()
    assert hub_client.client_secret.startswith("md5$")

    assert hub_oauth_client_ensure() == "updated client_secret"

    hub_client.refresh_from_db()
    assert hub_client.client_secret.startswith("pbkdf2_sha256_client_secret$")
    assert check_password(SECRET, hub_client.client_secret)
    assert hub_oauth_client_ensure() == "unchanged"


def test_a_short_client_secret_is_refused_and_nothing_is_registered(settings):
    settings.PUBLIC_URL = settings.SITE_URL = PUBLIC_URL
    settings.OAUTH_CLIENT_SECRET = "s" * 31

    with pytest.raises(ImproperlyConfigured) as refused:
        hub_oauth_client_ensure()

    assert str(refused.value) == (
        "MLHUB_OAUTH_CLIENT_SECRET has 31 characters; use at least 32 random ones "
        "(e.g. `openssl rand -hex 32`), or leave it unset to have one generated"
    )
    assert not get_application_model().objects.exists()


def test_setup_with_a_short_client_secret_stops_with_one_line_and_makes_nothing(settings):
    from django.core.management import CommandError, call_command

    from portal.accounts.models import User

    settings.OAUTH_CLIENT_SECRET = "s" * 31
    with pytest.raises(CommandError) as stopped:
        call_command("mlhub_setup")
    assert str(stopped.value).startswith("MLHUB_OAUTH_CLIENT_SECRET has 31 characters; use at")
    assert not get_application_model().objects.exists()
    assert not User.objects.exists()  # the first admin neither
