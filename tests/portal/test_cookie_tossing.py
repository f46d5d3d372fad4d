"""A workspace on a subdomain cannot plant its own portal session or CSRF cookie (cookie
tossing): over https the cookies' names carry the ``__Host-`` prefix, and a request carrying
either cookie twice is refused. The same attack in a real browser over https:
tests/browser/test_cookie_tossing.py."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.portal.test_deploy_checks import run_portal

COOKIES_OVER_HTTPS = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/accounts/login/", secure=True, headers={"host": "hub.example.com"})
csrf = response.cookies[settings.CSRF_COOKIE_NAME]
print(json.dumps({
    "session": [settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE,
                settings.SESSION_COOKIE_PATH, settings.SESSION_COOKIE_DOMAIN],
    "csrf": [settings.CSRF_COOKIE_NAME, settings.CSRF_COOKIE_SECURE,
             settings.CSRF_COOKIE_PATH, settings.CSRF_COOKIE_DOMAIN],
    "csrf cookie sent": [csrf.key, csrf["secure"], csrf["path"], csrf["domain"]],
}))
"""


def test_over_https_the_portals_cookies_carry_the_host_prefix(tmp_path):
    found = run_portal(COOKIES_OVER_HTTPS, tmp_path, MLHUB_PUBLIC_URL="https://hub.example.com")

    # What __Host- asks of a cookie, or the browser refuses it: Secure, Path=/, no Domain.
    assert found == {
        "session": ["__Host-mlhub-portal-session", True, "/", None],
        "csrf": ["__Host-mlhub-portal-csrf", True, "/", None],
        "csrf cookie sent": ["__Host-mlhub-portal-csrf", True, "/", ""],
    }


def test_over_http_the_names_stay_unprefixed():
    # `make run` on http://localhost: a browser refuses __Host- cookies without https.
    assert settings.PUBLIC_URL.startswith("http://")
    assert (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME) == (
        "mlhub-portal-session",
        "mlhub-portal-csrf",
    )


def session_of(client, person) -> str:
    client.force_login(person)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def set_cookies(response) -> list[str]:
    return sorted(morsel.output(header="").strip() for morsel in response.cookies.values())


@pytest.mark.django_db
def test_a_request_with_the_session_cookie_twice_is_refused_and_both_are_cleared(
    client, alice, bob
):
    name = settings.SESSION_COOKIE_NAME
    alices, bobs = session_of(client, alice), session_of(client, bob)

    # Alice's own cookie first, the one bob's workspace set on the parent domain after it:
    # Django alone would take the last, and alice would be bob.
    response = client.get("/", HTTP_COOKIE=f"{name}={alices}; theme=dark; {name}={bobs}")

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == (
        "Your browser sent the portal's mlhub-portal-session cookie twice: a page on another "
        "host may have set one. The portal has cleared them; log in again, and if this page "
        "comes back, delete this site's cookies in your browser."
    )
    assert set_cookies(response) == [
        'mlhub-portal-session=""; Domain=localhost; expires=Thu, 01 Jan 1970 00:00:00 GMT; '
        "Max-Age=0; Path=/",
        'mlhub-portal-session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; '
        "SameSite=Lax",
    ]


@pytest.mark.django_db
def test_a_request_with_the_csrf_cookie_twice_is_refused(client, alice):
    name = settings.CSRF_COOKIE_NAME
    client.force_login(alice)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post(
        "/accounts/logout/",
        HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={session}; {name}=a; {name}=b",
    )

    assert response.status_code == 400
    assert "mlhub-portal-csrf cookie twice" in response.content.decode()


@pytest.mark.django_db
def test_one_session_cookie_beside_look_alike_names_is_served(client, alice):
    name = settings.SESSION_COOKIE_NAME
    session = session_of(client, alice)

    response = client.get("/", HTTP_COOKIE=f"x{name}=1; {name}={session}; {name}x=2; other={name}")

    assert response.status_code == 200
    assert response.context["user"] == alice
