"""The portal under a path prefix (MLHUB_BASE_URL): its real WSGI application answers under
the prefix only and sends the rest into it, every URL it builds carries the prefix, its
cookies are the prefix's (but over https, where __Host- needs Path=/), and a bad prefix stops
the start. Settings are read at import: each case runs the portal in a fresh Python."""

from __future__ import annotations

import pytest

from portal.accounts.oauth import hub_redirect_uri
from portal.base_path import prefixed
from tests.portal.reloaded import settings_refusal
from tests.portal.test_deploy_checks import production_environment, run_portal, run_python

# The portal's own WSGI application (portal/wsgi.py), called as gunicorn calls it.
THROUGH_THE_WSGI_APPLICATION = """
import json
from http.cookies import SimpleCookie
from wsgiref.util import setup_testing_defaults
from portal.wsgi import application
from django.conf import settings
from django.shortcuts import resolve_url

def get(path, query=""):
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "localhost:8000",
               "SERVER_NAME": "localhost", "SERVER_PORT": "8000"}
    setup_testing_defaults(environ)
    answer = {}
    def start_response(status, headers, exc_info=None):
        answer.update(status=int(status[:3]), headers=headers)
    body = b"".join(application(environ, start_response)).decode()
    headers = answer["headers"]
    return {
        "status": answer["status"],
        "location": dict(headers).get("Location"),
        "cookies": sorted(
            f"{name};Path={morsel['path']}"
            for key, value in headers if key == "Set-Cookie"
            for name, morsel in SimpleCookie(value).items()
        ),
        "body": body,
    }

login = get("/mlhub/accounts/login/")
print(json.dumps({
    "settings": [settings.FORCE_SCRIPT_NAME, settings.STATIC_URL, settings.SITE_URL,
                 settings.HUB_API_URL, resolve_url(settings.LOGIN_URL),
                 resolve_url(settings.LOGIN_REDIRECT_URL)],
    "root": get("/")["status"], "root to": get("/")["location"],
    "outside to": get("/hub/home", "next=%2Fx")["location"],
    "quoted to": get("/a b")["location"],
    "bare prefix": get("/mlhub")["status"],
    "login": login["status"],
    "login form": 'action="/mlhub/accounts/login/"' in login["body"],
    "login css": 'href="/mlhub/static/mlhub/mlhub.css"' in login["body"],
    "login cookies": login["cookies"],
    "account": get("/mlhub/accounts/")["location"],
    "api": get("/mlhub/api/v1/me/")["status"],
}))
"""


def test_the_portal_answers_under_the_prefix_and_sends_the_rest_into_it(tmp_path):
    found = run_portal(
        THROUGH_THE_WSGI_APPLICATION,
        tmp_path,
        MLHUB_BASE_URL="/mlhub",
        MLHUB_PUBLIC_URL="http://localhost:8000",
        MLHUB_HUB_URL="http://127.0.0.1:8081",
    )

    assert found["settings"] == [
        "/mlhub",
        "/mlhub/static/",
        "http://localhost:8000/mlhub",
        "http://127.0.0.1:8081/mlhub/hub/api",
        "/mlhub/accounts/login/",
        "/mlhub/",
    ]
    assert (found["root"], found["root to"]) == (302, "/mlhub/")
    assert found["outside to"] == "/mlhub/hub/home?next=%2Fx"
    assert found["quoted to"] == "/mlhub/a%20b"
    assert found["bare prefix"] == 302  # /mlhub is the portal's / (log in first)
    assert found["login"] == 200
    assert found["login form"] and found["login css"]
    assert found["login cookies"] == ["mlhub-portal-csrf;Path=/mlhub/"]
    assert found["account"] == "/mlhub/accounts/login/?next=/mlhub/accounts/"
    assert found["api"] == 401


def test_at_the_root_nothing_changes(tmp_path):
    found = run_portal(
        THROUGH_THE_WSGI_APPLICATION.replace('"/mlhub/accounts/login/"', '"/accounts/login/"'),
        tmp_path,
        MLHUB_PUBLIC_URL="http://localhost:8000",
        MLHUB_HUB_URL="http://127.0.0.1:8081",
    )

    assert found["settings"] == [
        None,
        "/static/",
        "http://localhost:8000",
        "http://127.0.0.1:8081/hub/api",
        "/accounts/login/",
        "/",
    ]
    assert found["login cookies"] == ["mlhub-portal-csrf;Path=/"]


COOKIE_PATHS = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_PATH,
                  settings.CSRF_COOKIE_PATH]))
"""


def test_over_https_the_host_prefixed_cookies_keep_path_root(tmp_path):
    found = run_portal(
        COOKIE_PATHS,
        tmp_path,
        MLHUB_BASE_URL="/mlhub/",
        MLHUB_PUBLIC_URL="https://tools.example.org/mlhub/",
    )
    # Browsers take a __Host- cookie only with Path=/ (JupyterHub's own rule for its cookies).
    assert found == ["__Host-mlhub-portal-session", "/", "/"]


def test_check_deploy_reports_nothing_under_a_prefix(tmp_path):
    environ = production_environment(
        tmp_path, MLHUB_BASE_URL="/mlhub/", MLHUB_PUBLIC_URL="https://tools.example.org"
    )
    result = run_python(environ, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("bad", ["/a/../b/", "/a?b", "/a#b", "//x/", "/ml hub/", "/mlhüb/"])
def test_a_bad_prefix_stops_the_portal(monkeypatch, bad):
    refusal = settings_refusal(monkeypatch, MLHUB_BASE_URL=bad)
    assert f"MLHUB_BASE_URL={bad!r} is not a plain path like /mlhub/" in refusal


def test_a_public_url_with_another_path_stops_the_portal(monkeypatch):
    refusal = settings_refusal(
        monkeypatch, MLHUB_BASE_URL="/mlhub/", MLHUB_PUBLIC_URL="https://tools.example.org/hub/"
    )
    assert "ends in /hub/, but MLHUB_BASE_URL is /mlhub/" in refusal


def test_the_hubs_registered_callback_carries_the_prefix():
    assert hub_redirect_uri("https://tools.example.org/mlhub") == (
        "https://tools.example.org/mlhub/hub/oauth_callback"
    )


def called(application, path: str, script_name: str = "") -> dict:
    seen: dict = {}

    def inner(environ, start_response):
        seen.update(script=environ["SCRIPT_NAME"], path=environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"inner"]

    def start_response(status, headers):
        seen.update(status=status, headers=dict(headers))

    environ = {"PATH_INFO": path, "SCRIPT_NAME": script_name, "QUERY_STRING": ""}
    body = b"".join(prefixed(inner, "/mlhub/")(environ, start_response) if application else [])
    seen["body"] = body
    return seen


def test_under_the_prefix_the_prefix_moves_to_script_name():
    seen = called(True, "/mlhub/api/v1/me/")
    assert (seen["script"], seen["path"], seen["body"]) == ("/mlhub", "/api/v1/me/", b"inner")


def test_a_look_alike_of_the_prefix_is_outside_it():
    seen = called(True, "/mlhubx/")
    assert seen["status"] == "302 Found"
    assert seen["headers"]["Location"] == "/mlhub/mlhubx/"


def test_a_scheme_relative_path_stays_on_this_host():
    seen = called(True, "//evil.example/x")
    assert seen["headers"]["Location"] == "/mlhub/evil.example/x"


def test_at_the_root_the_application_is_itself():
    def application(environ, start_response):
        return []

    assert prefixed(application, "/") is application


HUB_CALLS_OVER_HTTP = """
import json
import django
django.setup()
from django.test import Client
client = Client(headers={"host": "127.0.0.1"})
print(json.dumps({
    path: client.get(path).status_code
    for path in ("/o/token/", "/api/v1/me/", "/api/v1/internal/hub-events/", "/accounts/login/")
}))
"""


def test_over_https_the_hubs_calls_at_the_internal_address_are_not_redirected(tmp_path):
    found = run_portal(
        HUB_CALLS_OVER_HTTP,
        tmp_path,
        MLHUB_BASE_URL="/mlhub/",
        MLHUB_PUBLIC_URL="https://tools.example.org",
    )
    # The hub's code exchange, person lookup and reports answer on plain http; a page
    # redirects to https.
    assert found == {
        "/o/token/": 405,
        "/api/v1/me/": 401,
        "/api/v1/internal/hub-events/": 403,
        "/accounts/login/": 301,
    }


@pytest.mark.django_db
def test_under_a_prefix_a_cookie_sent_twice_is_cleared_on_the_prefix_too(client, settings):
    settings.SESSION_COOKIE_PATH = "/mlhub/"
    name = settings.SESSION_COOKIE_NAME
    response = client.get("/", HTTP_COOKIE=f"{name}=one; {name}=two")
    assert response.status_code == 400
    cleared = sorted(morsel.output(header="").strip() for morsel in response.cookies.values())
    expired = 'mlhub-portal-session=""; {}expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; '
    assert cleared == [
        expired.format("Domain=localhost; ") + "Path=/",
        expired.format("Domain=localhost; ") + "Path=/mlhub/",
        expired.format("") + "Path=/; SameSite=Lax",
        expired.format("") + "Path=/mlhub/; SameSite=Lax",
    ]
