"""Opening one's own workspace while it starts, or after its start failed, goes through the
hub's pending page: its owner may see it (progress, the failure, or on to the workspace once
it runs), where upstream answered people without the `servers` scope with a bare 403."""

from __future__ import annotations

import pytest
import requests

from tests.hub_stack import portal_login

pytestmark = pytest.mark.hub

ERIN = ("erin-pending", "erin-pass-1234")
FRANK = ("frank-pending", "frank-pass-1234")


def hub_browser(hub, person: tuple[str, str]) -> requests.Session:
    """Logged in to the portal and, through its OAuth, to the hub: as a browser is."""
    browser = portal_login(hub.url, *person)
    assert browser.get(f"{hub.url}/hub/home", timeout=30).status_code == 200
    return browser


def pending_page(browser: requests.Session, hub, owner: str, server: str) -> requests.Response:
    return browser.get(
        f"{hub.url}/hub/spawn-pending/{owner}/{server}", allow_redirects=False, timeout=30
    )


@pytest.fixture(scope="module")
def erin_workspace(hub):
    hub.user_create(*ERIN)
    hub.user_create(*FRANK)
    api = hub.api(hub.token_for(*ERIN))
    created = api.post(f"{hub.url}/api/v1/workspaces/", json={"name": "lab"}, timeout=30)
    assert created.status_code == 201, created.text
    return api, created.json()["id"]


def test_the_owner_of_a_running_workspace_is_sent_on_to_it(hub, erin_workspace):
    # Upstream's page asked for the `servers` scope, which people do not hold: a 403.
    api, workspace_id = erin_workspace
    hub.wait_for_state(api.headers["Authorization"].split()[1], workspace_id, "running")

    page = pending_page(hub_browser(hub, ERIN), hub, ERIN[0], "lab")

    assert page.status_code == 302, page.text
    assert page.headers["Location"].endswith(f"/user/{ERIN[0]}/lab/")


def test_someone_else_may_not_see_it(hub, erin_workspace):
    page = pending_page(hub_browser(hub, FRANK), hub, ERIN[0], "lab")

    # As for everything of someone else's: not even whether it exists.
    assert page.status_code == 404
    assert "No access to resources or resources not found" in page.text
