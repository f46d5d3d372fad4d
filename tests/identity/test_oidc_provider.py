"""The test OpenID Provider (tests/identity/oidc.py) does what "Log in with your organisation"
will rely on: checked over plain HTTP, as the relying party and a browser would talk to it."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.identity.oidc import OidcProvider

CLIENT_ID = "mlhub-under-test"
CLIENT_SECRET = "client-secret-for-tests"
# Nothing listens there: the tests read the provider's redirect to it, never follow it.
REDIRECT_URI = "http://127.0.0.1:9/accounts/oidc/callback/"
PASSWORD = "ada-password"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oidc-provider")
    with OidcProvider(folder, CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI]) as running:
        running.add_person(
            "ada", PASSWORD, email="ada@example.org", groups=["analysts"], name="Ada Lovelace"
        )
        yield running


def discovery(provider: OidcProvider) -> dict:
    response = requests.get(provider.discovery_url, timeout=5)
    response.raise_for_status()
    return response.json()


def follow_on_provider(session: requests.Session, response: requests.Response):
    """Follow redirects while they stay on the provider; the first that leaves it (to the
    client's redirect URI) is returned unfollowed."""
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(response.url))
    while response.is_redirect:
        location = urljoin(response.url, response.headers["Location"])
        if not location.startswith(origin):
            break
        response = session.get(location, allow_redirects=False, timeout=5)
    return response


def authorize(session: requests.Session, provider: OidcProvider) -> tuple[dict, requests.Response]:
    """Start the authorization-code flow as a relying party would (PKCE S256, state, nonce):
    what it sent, and the page the provider shows."""
    sent = {name: secrets.token_urlsafe(32) for name in ("state", "nonce", "verifier")}
    challenge = hashlib.sha256(sent["verifier"].encode()).digest()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email groups",
        "state": sent["state"],
        "nonce": sent["nonce"],
        "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    endpoint = discovery(provider)["authorization_endpoint"]
    response = session.get(endpoint, params=params, allow_redirects=False, timeout=5)
    return sent, follow_on_provider(session, response)


def sign_in(session: requests.Session, page: requests.Response, username: str, password: str):
    """Fill in and send the provider's login form, as a browser would."""

    def field(name: str) -> str:
        return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', page.text)[1])

    form = {
        "csrfmiddlewaretoken": field("csrfmiddlewaretoken"),
        "next": field("next"),
        "username": username,
        "password": password,
    }
    response = session.post(page.url, data=form, allow_redirects=False, timeout=5)
    return follow_on_provider(session, response)


def code_from(response: requests.Response) -> dict[str, str]:
    """The query of the provider's redirect back to the client."""
    assert response.is_redirect, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def token_request(provider: OidcProvider, code: str, verifier: str | None) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    endpoint = discovery(provider)["token_endpoint"]
    return requests.post(endpoint, data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)


def log_in(provider: OidcProvider, username: str, password: str) -> tuple[dict, dict]:
    """The whole flow for a new browser: what the client sent, and the token response."""
    session = requests.Session()
    sent, page = authorize(session, provider)
    query = code_from(sign_in(session, page, username, password))
    assert query["state"] == sent["state"]
    response = token_request(provider, query["code"], sent["verifier"])
    assert response.status_code == 200, response.text
    return sent, response.json()


def verified_claims(provider: OidcProvider, id_token: str, nonce: str) -> dict:
    """The ID token's claims, once its signature is checked against the provider's JWKS and
    its issuer, audience, nonce and lifetime are right."""
    jwks = requests.get(discovery(provider)["jwks_uri"], timeout=5).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(token.claims)
    return token.claims


def test_discovery_describes_the_provider(provider):
    document = discovery(provider)

    assert document["issuer"] == provider.issuer == f"http://127.0.0.1:{provider.port}/o"
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert document[endpoint].startswith(provider.issuer + "/")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]


def test_code_flow_with_pkce_gives_a_signed_id_token_with_the_persons_claims(provider):
    sent, tokens = log_in(provider, "ada", PASSWORD)

    claims = verified_claims(provider, tokens["id_token"], sent["nonce"])
    person = {
        "sub": "ada",
        "preferred_username": "ada",
        "email": "ada@example.org",
        "email_verified": True,
        "name": "Ada Lovelace",
        "groups": ["analysts"],
        "upn": "ada@example.org",
    }
    assert claims | person == claims
    userinfo = requests.get(
        discovery(provider)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert userinfo.json() == person


def test_a_wrong_password_shows_the_form_again(provider):
    session = requests.Session()
    _, page = authorize(session, provider)
    assert "Test identity provider" in page.text

    again = sign_in(session, page, "ada", "not-" + PASSWORD)

    assert again.status_code == 200
    assert "Wrong username or password" in again.text
    assert 'name="password"' in again.text


def test_pkce_is_required_at_the_token_endpoint(provider):
    session = requests.Session()
    _, page = authorize(session, provider)
    query = code_from(sign_in(session, page, "ada", PASSWORD))

    response = token_request(provider, query["code"], verifier=None)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_set_groups_changes_the_next_id_token(provider):
    provider.add_person("grace", "grace-password", groups=["analysts"])
    provider.set_groups("grace", ["admins", "analysts"])

    sent, tokens = log_in(provider, "grace", "grace-password")

    claims = verified_claims(provider, tokens["id_token"], sent["nonce"])
    assert claims["groups"] == ["admins", "analysts"]


def test_a_stopped_provider_refuses_connections_until_started_again(provider):
    provider.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(provider.discovery_url, timeout=5)

    provider.start()

    assert discovery(provider)["issuer"] == provider.issuer
