"""The whole path on a real JupyterHub and proxy: create through the API, open through the
proxy after logging in to the portal only, others kept out, stop and delete."""

from __future__ import annotations

import pytest

from lib.polling import poll_until
from tests.hub_stack import ADMIN_PASSWORD, portal_login

pytestmark = pytest.mark.hub

ALICE, BOB, MALLORY = (
    ("alice", "alice-pass-123"),
    ("bob", "bob-pass-1234"),
    ("mallory", "m-pass-1234"),
)


@pytest.fixture(scope="module")
def people(hub):
    hub.user_create(*ALICE)
    hub.user_create(*BOB)
    hub.user_create(*MALLORY, approved=False)
    return {name: hub.token_for(name, password) for name, password in (ALICE, BOB)}


@pytest.fixture(scope="module")
def running_workspace(hub, people):
    response = hub.api(people["alice"]).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": "thesis"}, timeout=30
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] in ("starting", "running")
    # On alice's own origin, never the portal's.
    assert created["url"] == hub.url.replace("://", "://alice.") + "/user/alice/thesis/"
    return hub.wait_for_state(people["alice"], created["id"], "running")


def test_the_workspace_runs_in_the_hub(hub, running_workspace):
    server = hub.hub_user("alice")["servers"]["thesis"]
    assert server["ready"] is True
    assert server["user_options"]["cpu"] == running_workspace["cpu"]


def test_alice_opens_it_after_logging_in_to_the_portal_only(hub, running_workspace):
    browser = portal_login(hub.url, *ALICE)
    # Opening the workspace walks the OAuth redirects: workspace -> hub -> portal -> hub ->
    # workspace. Being logged in to the portal is enough: no second login form on the way.
    page = browser.get(running_workspace["url"] + "lab", timeout=30)
    assert page.status_code == 200, (page.url, page.text[:300])
    hops = [r.url for r in page.history]
    assert any("/o/authorize/" in hop for hop in hops), hops
    assert not any("/accounts/login" in hop for hop in hops), hops
    response = browser.get(running_workspace["url"] + "api/status", timeout=30)
    assert response.status_code == 200, (response.url, response.text[:300])
    assert "started" in response.json()


def test_bob_cannot_reach_alices_workspace(hub, running_workspace):
    browser = portal_login(hub.url, *BOB)
    page = browser.get(running_workspace["url"] + "lab", timeout=30)
    assert page.status_code == 403, (page.url, page.text[:300])
    response = browser.get(running_workspace["url"] + "api/status", timeout=30)
    assert response.status_code == 403
    token = hub.api(hub.token_for(*BOB))
    assert token.get(f"{hub.url}/api/v1/workspaces/{running_workspace['id']}/").status_code == 404


def test_the_hub_refuses_people_waiting_for_approval(hub, people):
    browser = portal_login(hub.url, *MALLORY)
    response = browser.get(f"{hub.url}/hub/home", timeout=30)
    assert response.status_code == 403
    assert "waiting for an administrator" in response.text


def test_stop_then_delete_remove_it_from_the_hub(hub, people, running_workspace):
    alice = hub.api(people["alice"])
    base = f"{hub.url}/api/v1/workspaces/{running_workspace['id']}/"
    stopped = alice.post(base + "stop/", timeout=30)
    assert stopped.status_code == 200, stopped.text
    hub.wait_for_state(people["alice"], running_workspace["id"], "stopped")
    assert hub.hub_user("alice")["servers"]["thesis"]["ready"] is False

    # A stopped workspace's URL sends the browser to the hub's "not running" page.
    browser = portal_login(hub.url, *ALICE)
    page = browser.get(running_workspace["url"] + "lab", timeout=30)
    assert page.url.startswith(f"{hub.url}/hub/user/alice/thesis/lab"), page.url

    assert alice.delete(base, timeout=30).status_code == 204
    assert alice.get(base).status_code == 404  # gone for alice at once
    # ... and from the hub once its spawner has removed it (a task waits for that).
    poll_until(lambda: "thesis" not in hub.hub_user("alice")["servers"], timeout=30, what="kept")


def test_an_admin_creates_a_workspace_for_someone_else(hub, people):
    response = hub.api().post(
        f"{hub.url}/api/v1/workspaces/", json={"name": "handout", "owner": "bob"}, timeout=30
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["owner"] == "bob"
    # bob sees it as his own; the hub runs it as his.
    bobs = hub.api(people["bob"]).get(f"{hub.url}/api/v1/workspaces/").json()["results"]
    assert [w["name"] for w in bobs] == ["handout"]
    hub.wait_for_state(people["bob"], created["id"], "running")
    assert hub.hub_user("bob")["servers"]["handout"]["ready"] is True
    assert hub.api().delete(f"{hub.url}/api/v1/workspaces/{created['id']}/").status_code == 204
    poll_until(lambda: "handout" not in hub.hub_user("bob")["servers"], timeout=30, what="kept")


def test_an_admins_own_workspace_starts(hub):
    response = hub.api().post(f"{hub.url}/api/v1/workspaces/", json={"name": "mine"}, timeout=30)
    assert response.status_code == 201, response.text
    hub.wait_for_state(hub.admin_token, response.json()["id"], "running")
    assert (
        hub.api().delete(f"{hub.url}/api/v1/workspaces/{response.json()['id']}/").status_code == 204
    )


def test_deleting_a_person_removes_their_workspaces_and_hub_account(hub):
    created = hub.user_create("leaver", "leaver-pass-123")
    token = hub.token_for("leaver", "leaver-pass-123")
    workspace = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": "last"}, timeout=30
    )
    assert workspace.status_code == 201, workspace.text
    hub.wait_for_state(token, workspace.json()["id"], "running")
    response = hub.api().delete(f"{hub.url}/api/v1/users/{created['id']}/", timeout=60)
    assert response.status_code == 204, response.text
    assert hub.api().get(f"{hub.url}/api/v1/users/{created['id']}/").status_code == 404
    poll_until(lambda: hub.hub_user("leaver") is None, timeout=60, what="still in the hub")


def hub_session(hub, username: str, password: str):
    """A browser logged in to the portal, then to the hub through its OAuth."""
    browser = portal_login(hub.url, username, password)
    assert browser.get(f"{hub.url}/hub/home", timeout=30).status_code == 200
    return browser


def test_people_cannot_start_servers_in_the_hub_behind_the_portals_back(hub, people):
    browser = hub_session(hub, *ALICE)
    response = browser.post(
        f"{hub.url}/hub/api/users/alice/servers/sneaky",
        json={"cpu": 2},
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/") or ""},
        timeout=30,
    )
    assert response.status_code == 403, response.text
    assert "not authorized" in response.json()["message"]  # the scope, not the XSRF check
    assert "sneaky" not in hub.hub_user("alice")["servers"]


def test_an_admins_hub_session_starts_no_server_however_it_is_asked(hub, people):
    hub_session(hub, *ALICE)  # alice is a hub user: upstream would start her servers
    admin = hub_session(hub, "admin", ADMIN_PASSWORD)
    xsrf = admin.cookies.get("_xsrf", path="/hub/") or ""
    # A link another site shows the admin: a top-level GET, so the hub's cookie is sent.
    link = admin.get(
        f"{hub.url}/hub/spawn/alice/sneaky?opt-cpu=0.25&opt-memory=256M",
        allow_redirects=False,
        timeout=30,
    )
    assert (link.status_code, link.headers["Location"]) == (303, "/")
    form = admin.post(
        f"{hub.url}/hub/spawn/alice/sneaky",
        data={"_xsrf": xsrf, "cpu": "0.25"},
        allow_redirects=False,
        timeout=30,
    )
    assert (form.status_code, form.headers["Location"]) == (303, "/")
    api = admin.post(
        f"{hub.url}/hub/api/users/alice/servers/sneaky",
        json={},
        headers={"X-XSRFToken": xsrf},
        timeout=30,
    )
    assert api.status_code == 403, api.text
    assert "not authorized" in api.json()["message"]  # the scope, not the XSRF check
    # A stopped server's hub URL shows the "not running" page and starts nothing either.
    stopped = admin.get(f"{hub.url}/hub/user/alice/sneaky/", allow_redirects=False, timeout=30)
    assert stopped.status_code == 424
    assert "sneaky" not in hub.hub_user("alice")["servers"]


def test_the_hubs_not_running_page_points_to_the_portal(hub, people):
    browser = portal_login(hub.url, *ALICE)
    page = browser.get(f"{hub.url}/hub/user/alice/nothing-here/", timeout=30)
    assert "is not running" in page.text
    assert 'href="/">My workspaces' in page.text


def test_deleting_in_the_django_admin_removes_the_server_from_the_hub(hub, people):
    created = hub.api(people["bob"]).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": "scratch"}, timeout=30
    )
    assert created.status_code == 201, created.text
    hub.wait_for_state(people["bob"], created.json()["id"], "running")
    admin = portal_login(hub.url, "admin", ADMIN_PASSWORD)
    url = f"{hub.url}/admin/workspaces/workspace/{created.json()['id']}/delete/"
    admin.get(url, timeout=30)
    response = admin.post(
        url,
        data={"post": "yes", "csrfmiddlewaretoken": admin.cookies["mlhub-portal-csrf"]},
        headers={"Referer": url},
        timeout=60,
    )
    assert response.status_code == 200 and "deleted successfully" in response.text
    # The hub forgets the server once its stop has finished, a moment after it answered.
    poll_until(lambda: "scratch" not in hub.hub_user("bob")["servers"], timeout=30, what="kept")
