"""MLHub under a path prefix (MLHUB_BASE_URL=/mlhub/) on a real JupyterHub and proxy: the
portal, its API and static files, the hub, the OAuth login and the workspaces all live under
the prefix, and what is outside it is sent into it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from lib.polling import poll_until
from tests.hub_stack import METRICS_TOKEN, portal_login, running_stack

pytestmark = pytest.mark.hub

PREFIX = "/mlhub/"
ALICE = ("alice", "alice-pass-123")


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory):
    """A process-mode stack under /mlhub/; its ``url`` is http://localhost:<port>/mlhub."""
    yield from running_stack(
        tmp_path_factory.mktemp("mlhub-prefixed"), "process", extra={"MLHUB_BASE_URL": PREFIX}
    )


def origin(hub) -> str:
    parts = urlsplit(hub.url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="module")
def alice(prefixed):
    prefixed.user_create(*ALICE)
    return prefixed.token_for(*ALICE)


@pytest.fixture(scope="module")
def running_workspace(prefixed, alice):
    created = prefixed.api(alice).post(
        f"{prefixed.url}/api/v1/workspaces/", json={"name": "thesis"}, timeout=30
    )
    assert created.status_code == 201, created.text
    workspace = prefixed.wait_for_state(alice, created.json()["id"], "running")
    yield workspace
    prefixed.api(alice).delete(f"{prefixed.url}/api/v1/workspaces/{workspace['id']}/")
    poll_until(
        lambda: "thesis" not in prefixed.hub_user("alice")["servers"], timeout=30, what="kept"
    )


def test_the_url_carries_the_prefix(prefixed):
    assert prefixed.url == origin(prefixed) + "/mlhub"


@pytest.mark.parametrize(
    "path, target",
    [
        ("/", "/mlhub/"),
        ("/accounts/login/?next=/x", "/mlhub/accounts/login/?next=/x"),
        ("/hub/home", "/mlhub/hub/home"),
        ("//evil.example/", "/mlhub/evil.example/"),
    ],
)
def test_what_is_outside_the_prefix_is_sent_into_it(prefixed, path, target):
    response = requests.get(origin(prefixed) + path, allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_the_login_page_and_its_static_files_answer_under_the_prefix(prefixed):
    page = requests.get(f"{prefixed.url}/accounts/login/", timeout=10)
    assert page.status_code == 200
    assert 'href="/mlhub/static/' in page.text
    assert 'action="/mlhub/accounts/login/"' in page.text
    # The portal's own CSS and the Bootstrap it collects from the jupyterhub package.
    for path in ("mlhub/mlhub.css", "vendor/bootstrap/bootstrap.min.css"):
        css = requests.get(f"{prefixed.url}/static/{path}", timeout=10)
        assert css.status_code == 200, css.text[:200]
        assert css.headers["Content-Type"].startswith("text/css")


def test_the_portal_cookies_are_the_prefixs(prefixed):
    page = requests.get(f"{prefixed.url}/accounts/login/", timeout=10)
    (csrf,) = [c for c in page.cookies if c.name == "mlhub-portal-csrf"]
    assert csrf.path == PREFIX


def test_the_api_answers_under_the_prefix(prefixed):
    me = prefixed.api().get(f"{prefixed.url}/api/v1/me/", timeout=10)
    assert me.status_code == 200, me.text[:200]
    assert me.json()["username"] == "admin"
    schema = requests.get(f"{prefixed.url}/api/v1/schema/", timeout=10)
    # The API's own paths, and where they are: so Swagger UI calls the prefixed ones.
    assert "url: /mlhub\n" in schema.text and "/api/v1/workspaces/:" in schema.text


def test_logging_in_lands_on_my_workspaces_under_the_prefix(prefixed, alice):
    browser = portal_login(prefixed.url, *ALICE)
    page = browser.get(f"{prefixed.url}/", timeout=10)
    assert page.status_code == 200
    assert 'href="/mlhub/api/v1/docs/"' in page.text
    assert 'href="/mlhub/admin/"' not in page.text  # alice is no admin


def test_a_page_asks_for_login_at_the_prefixed_login_url(prefixed):
    response = requests.get(f"{prefixed.url}/accounts/", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"] == "/mlhub/accounts/login/?next=/mlhub/accounts/"


def test_the_hub_answers_under_the_prefix(prefixed):
    version = requests.get(f"{prefixed.url}/hub/api/", timeout=10)
    assert version.status_code == 200 and "version" in version.json()


def test_the_scraper_reads_both_metrics_under_the_prefix(prefixed):
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    portal = requests.get(f"{prefixed.url}/metrics", headers=scraper, timeout=10)
    assert portal.status_code == 200 and "# TYPE mlhub_workspaces gauge" in portal.text
    hub = requests.get(f"{prefixed.url}/hub/metrics", headers=scraper, timeout=10)
    assert hub.status_code == 200 and "jupyterhub_running_servers" in hub.text


def test_the_hubs_oauth_client_calls_back_under_the_prefix(prefixed):
    # The hub's login sends the browser to the portal's authorize URL, with the redirect URI
    # the portal registered for it.
    response = requests.get(f"{prefixed.url}/hub/oauth_login", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{prefixed.url}/o/authorize/?"), location
    callback = requests.utils.quote(f"{prefixed.url}/hub/oauth_callback", safe="")
    assert f"redirect_uri={callback}" in location


def test_the_workspace_lives_under_the_prefix_on_its_own_origin(prefixed, running_workspace):
    own_origin = origin(prefixed).replace("://", "://alice.")
    assert running_workspace["url"] == f"{own_origin}/mlhub/user/alice/thesis/"


def test_the_workspace_api_answers_with_a_workspace_token(prefixed, alice, running_workspace):
    token = prefixed.api(alice).post(
        f"{prefixed.url}/api/v1/workspaces/{running_workspace['id']}/token/",
        json={"lifetime": 600},
        timeout=30,
    )
    assert token.status_code == 200, token.text
    status = requests.get(
        running_workspace["url"] + "api/status",
        headers={"Authorization": f"token {token.json()['token']}"},
        timeout=30,
    )
    assert status.status_code == 200, status.text[:300]
    assert "started" in status.json()


def test_alice_opens_it_through_the_hubs_oauth_login(prefixed, running_workspace):
    browser = portal_login(prefixed.url, *ALICE)
    page = browser.get(running_workspace["url"] + "lab", timeout=30)
    assert page.status_code == 200, (page.url, page.text[:300])
    hops = [r.url for r in page.history]
    assert any(hop.startswith(f"{prefixed.url}/o/authorize/") for hop in hops), hops
    assert any(hop.startswith(f"{prefixed.url}/hub/oauth_callback") for hop in hops), hops
    assert page.url.startswith(running_workspace["url"] + "lab"), page.url
    response = browser.get(running_workspace["url"] + "api/status", timeout=30)
    assert response.status_code == 200, (response.url, response.text[:300])


def test_a_stopped_workspaces_url_leads_to_the_hubs_page_under_the_prefix(
    prefixed, alice, running_workspace
):
    base = f"{prefixed.url}/api/v1/workspaces/{running_workspace['id']}/"
    assert prefixed.api(alice).post(base + "stop/", timeout=30).status_code == 200
    prefixed.wait_for_state(alice, running_workspace["id"], "stopped")
    # The proxy has no route for it: the portal, on alice's origin, sends her to the hub.
    browser = portal_login(prefixed.url, *ALICE)
    page = browser.get(running_workspace["url"] + "lab", timeout=30)
    assert page.url.startswith(f"{prefixed.url}/hub/user/alice/thesis/lab"), page.url
    assert 'href="/mlhub/"' in page.text  # "My workspaces", the portal under the prefix
