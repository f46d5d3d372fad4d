"""The portal's pages carry a strict Content-Security-Policy and the other security headers,
contain no inline code that policy would block, and the HTTPS redirect spares exactly the
hub's direct calls. (The same pages in a real browser: tests/browser/test_csp.py.)"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

import templates as page_templates
from portal.workspaces.models import Workspace

pytestmark = pytest.mark.django_db

CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
# What a Content-Security-Policy without 'unsafe-inline' blocks in a page.
INLINE_CODE = {
    "inline <script>": re.compile(
        r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
    ),
    "<style> block": re.compile(r"<style\b", re.I),
    "style= attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "on*= handler": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
PORTAL_TEMPLATES = page_templates.FOLDER / "portal"


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources} (django-csp's directive
    order is not stable between processes; the content is what matters)."""
    parts = [part.split() for part in response["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in parts}


def inline_code(html: str) -> list[str]:
    return [what for what, pattern in INLINE_CODE.items() if pattern.search(html)]


def test_the_login_page_has_the_exact_policy_and_headers(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert policy(response) == CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_csrf_cookie_is_http_only(client):
    response = client.get("/accounts/login/")

    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(PORTAL_TEMPLATES)) for p in PORTAL_TEMPLATES.rglob("*.html"))
)
def test_no_portal_template_has_inline_code(path):
    assert inline_code((PORTAL_TEMPLATES / path).read_text()) == []


def test_the_scan_finds_each_kind_of_inline_code():
    page = (
        '<script>x()</script><style>b{}</style><p style="x"></p>'
        '<form onsubmit="x()"></form><a href="javascript:x()"></a>'
    )
    assert inline_code(page) == list(INLINE_CODE)
    assert inline_code('<script src="/static/a.js" defer></script>') == []
    assert inline_code('<form data-confirm="Delete notes?"></form>') == []


def test_the_portals_css_and_script_are_static_files():
    assert finders.find("mlhub/mlhub.css") is not None
    assert finders.find("mlhub/confirm.js") is not None
    assert finders.find("mlhub/swagger-ui.css") is not None


def test_the_delete_button_asks_through_data_confirm(client, alice, workspace_of):
    workspace_of(alice, state=Workspace.State.STOPPED)
    client.force_login(alice)

    response = client.get("/")

    html = response.content.decode()
    assert 'data-confirm="Delete thesis and all its files? This cannot be undone."' in html
    assert '<script src="/static/mlhub/confirm.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/mlhub/mlhub.css">' in html
    assert inline_code(html) == []
    assert policy(response) == CSP


@pytest.mark.parametrize(
    "path",
    ["/", "/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/", "/api/v1/docs/"],
)
def test_admin_and_api_docs_pages_have_the_policy_and_no_inline_code(admin_client, path):
    response = admin_client.get(path)

    assert response.status_code == 200
    assert policy(response) == CSP
    assert inline_code(response.content.decode()) == []


def test_the_api_docs_start_swagger_ui_from_a_script_file(admin_client):
    page = admin_client.get("/api/v1/docs/").content.decode()
    assert '<script src="/api/v1/docs/?script="></script>' in page

    script = admin_client.get("/api/v1/docs/?script=")

    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    assert b'url: "/api/v1/schema/"' in script.content


@pytest.fixture
def https_redirect(settings):
    """The redirect as an https public URL turns it on, with the settings' own exemptions."""
    settings.SECURE_SSL_REDIRECT = True


def test_with_https_on_a_browser_page_over_http_is_redirected(client, https_redirect):
    response = client.get("/accounts/login/?next=/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/?next=/"


def test_with_https_on_the_hubs_direct_calls_are_not_redirected(client, https_redirect):
    assert client.post("/o/token/").json() == {"error": "unsupported_grant_type"}
    assert client.get("/api/v1/me/").status_code == 401
    assert client.get("/api/v1/internal/anything/").status_code == 404


@pytest.mark.parametrize(
    "path", ["/o/authorize/", "/o/revoke_token/", "/api/v1/me/x/", "/api/v1/workspaces/"]
)
def test_with_https_on_the_exemptions_are_exact(client, https_redirect, path):
    assert client.get(path).status_code == 301
