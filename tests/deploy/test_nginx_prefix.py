"""nginx in front of a stack under a path prefix: MLHUB_PUBLIC_URL=https://localhost:<port>/mlhub/
with MLHUB_BASE_URL=/mlhub/. nginx passes every path on, plain http keeps its path on the way
to https, the portal's __Host- cookies keep Path=/ over https, and a workspace opens through
the hub's OAuth login under the prefix."""

from __future__ import annotations

import pytest
import requests

from lib.polling import poll_until
from tests.deploy.nginx_front import SubdomainAdapter
from tests.deploy.test_nginx import fronted_stack
from tests.hub_stack import portal_login

pytestmark = pytest.mark.hub

ALICE = ("alice", "alice-pass-123")


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    yield from fronted_stack(tmp_path_factory.mktemp("mlhub-nginx-prefix"), "mlhp", "/mlhub/")


@pytest.fixture(scope="module")
def alice(front):
    front.hub.user_create(*ALICE)
    return front.hub.token_for(*ALICE)


@pytest.fixture(scope="module")
def workspace(front, alice):
    hub = front.hub
    response = hub.api(alice).post(f"{hub.url}/api/v1/workspaces/", json={"name": "tls"})
    assert response.status_code == 201, response.text
    running = hub.wait_for_state(alice, response.json()["id"], "running")
    yield running
    hub.api(alice).delete(f"{hub.url}/api/v1/workspaces/{running['id']}/", timeout=30)
    poll_until(lambda: "tls" not in hub.hub_user("alice")["servers"], timeout=30, what="kept")


def test_the_portal_answers_under_the_prefix_over_tls(front):
    assert front.hub.url == f"{front.url}/mlhub"
    page = requests.get(f"{front.hub.url}/accounts/login/", verify=front.cert, timeout=30)
    assert page.status_code == 200
    root = requests.get(f"{front.url}/", verify=front.cert, allow_redirects=False, timeout=30)
    assert (root.status_code, root.headers["Location"]) == (302, "/mlhub/")


def test_plain_http_keeps_the_prefixed_path_on_the_way_to_https(front):
    response = requests.get(
        f"http://localhost:{front.http_port}/mlhub/accounts/login/?next=/x",
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 301
    assert response.headers["Location"] == (
        f"https://localhost:{front.port}/mlhub/accounts/login/?next=/x"
    )


def test_over_https_the_portals_host_prefixed_cookies_keep_path_root(front, alice):
    browser = portal_login(front.hub.url, *ALICE)
    cookies = {cookie.name: cookie for cookie in browser.cookies}
    for name in ("__Host-mlhub-portal-session", "__Host-mlhub-portal-csrf"):
        assert cookies[name].secure and cookies[name].path == "/", name


def test_alice_opens_her_workspace_under_the_prefix(front, workspace):
    assert workspace["url"] == f"https://alice.localhost:{front.port}/mlhub/user/alice/tls/"
    browser = portal_login(front.hub.url, *ALICE)
    browser.mount(f"https://alice.localhost:{front.port}/", SubdomainAdapter("alice.localhost"))
    page = browser.get(workspace["url"] + "lab", timeout=60)
    assert page.status_code == 200, (page.url, page.text[:300])
    assert page.url == workspace["url"] + "lab"
    hops = [hop.url for hop in page.history]
    assert any(hop.startswith(f"{front.hub.url}/o/authorize/") for hop in hops), hops
