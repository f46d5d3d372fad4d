"""A workspace's hub token on a real JupyterHub and proxy: it opens that one server through
the proxy, and nothing else, neither the owner's other servers nor anyone's, nor the hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from lib.polling import poll_until

pytestmark = pytest.mark.hub

# The same people as tests/integration/test_workspace_flow.py: whichever module runs first
# creates them.
ALICE = ("alice", "alice-pass-123")
BOB = ("bob", "bob-pass-1234")


def person(hub, username: str, password: str) -> str:
    """Their portal API token, creating them unless another module did."""
    people = hub.api().get(f"{hub.url}/api/v1/users/", params={"page_size": 1000}, timeout=10)
    if username not in {p["username"] for p in people.json()["results"]}:
        hub.user_create(username, password)
    return hub.token_for(username, password)


def bearing(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


@pytest.fixture(scope="module")
def workspaces(hub):
    """alice's ``scripts`` and ``notes`` and bob's ``scratchpad``, running; removed after."""
    owners = {"alice": person(hub, *ALICE), "bob": person(hub, *BOB)}
    made = {}
    for owner, name in (("alice", "scripts"), ("alice", "notes"), ("bob", "scratchpad")):
        response = hub.api(owners[owner]).post(
            f"{hub.url}/api/v1/workspaces/", json={"name": name}, timeout=30
        )
        assert response.status_code == 201, response.text
        made[name] = (owners[owner], response.json())
    running = {
        name: (token, hub.wait_for_state(token, created["id"], "running"))
        for name, (token, created) in made.items()
    }
    yield running
    for token, workspace in running.values():
        hub.api(token).delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30)
    for _, workspace in running.values():
        poll_until(
            lambda w=workspace: w["name"] not in hub.hub_user(w["owner"])["servers"],
            timeout=30,
            what=f"{workspace['owner']}/{workspace['name']} kept",
        )


@pytest.fixture(scope="module")
def token(hub, workspaces):
    """The answer to alice asking for a ten-minute token for ``scripts``."""
    owner_token, workspace = workspaces["scripts"]
    response = hub.api(owner_token).post(
        f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/", json={"lifetime": 600}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_hub_made_it_for_that_server_only_and_for_the_time_asked(hub, workspaces, token):
    # The one server, and whose the token is: every hub token may tell its owner's name and
    # groups (that is how the server learns who calls).
    assert token["scopes"] == [
        "access:servers!server=alice/scripts",
        "read:users:groups!user=alice",
        "read:users:name!user=alice",
    ]
    assert token["url"] == workspaces["scripts"][1]["url"]
    (kept,) = [t for t in hub.hub_tokens("alice") if t["note"].startswith("MLHub portal:")]
    assert kept["note"] == "MLHub portal: token for workspace alice/scripts, asked by alice"
    assert sorted(kept["scopes"]) == token["scopes"]
    created = datetime.fromisoformat(kept["created"])
    ends = datetime.fromisoformat(token["expires_at"])
    assert ends == datetime.fromisoformat(kept["expires_at"])
    assert ends - created == pytest.approx(timedelta(seconds=600), abs=timedelta(seconds=2))
    assert ends > datetime.now(UTC)


def test_it_opens_the_workspace_through_the_proxy(token):
    response = requests.get(
        token["url"] + "api/status", headers=bearing(token["token"]), timeout=30
    )
    assert response.status_code == 200, response.text[:300]
    assert "started" in response.json()


def test_it_does_not_open_the_owners_other_workspace(workspaces, token):
    other = workspaces["notes"][1]["url"]
    response = requests.get(
        other + "api/status", headers=bearing(token["token"]), allow_redirects=False, timeout=30
    )
    # The server itself, having asked the hub what the token may do.
    assert response.status_code == 403, response.text[:300]
    assert response.json() == {"message": "Forbidden", "reason": None}


def test_it_does_not_open_someone_elses_workspace(workspaces, token):
    bobs = workspaces["scratchpad"][1]["url"]
    response = requests.get(
        bobs + "api/status", headers=bearing(token["token"]), allow_redirects=False, timeout=30
    )
    # The server itself, having asked the hub what the token may do.
    assert response.status_code == 403, response.text[:300]
    assert response.json() == {"message": "Forbidden", "reason": None}


@pytest.mark.parametrize(
    "method, path, status, message",
    [
        ("GET", "/hub/api/users", 403, "requires any of [list:users]"),
        # Someone else: as for everything not one's own, not even whether it exists.
        ("GET", "/hub/api/users/bob", 404, "No access to resources or resources not found"),
        ("GET", "/hub/api/users/alice/tokens", 403, "requires any of [read:tokens]"),
        ("POST", "/hub/api/users/alice/servers/sneaky", 403, "requires any of [start:servers]"),
        ("DELETE", "/hub/api/users/alice/servers/scripts", 403, "requires any of [delete:servers]"),
        ("POST", "/hub/api/users/alice/tokens", 403, "no permissions to generate tokens"),
    ],
)
def test_it_cannot_use_the_hub_api(hub, token, method, path, status, message):
    response = requests.request(
        method, f"{hub.url}{path}", headers=bearing(token["token"]), json={}, timeout=30
    )
    assert response.status_code == status, response.text[:300]
    assert message in response.json()["message"]
    assert "sneaky" not in hub.hub_user("alice")["servers"]
    assert hub.hub_user("alice")["servers"]["scripts"]["ready"] is True


def test_the_hub_tells_it_whose_it_is_and_nothing_more(hub, token):
    response = requests.get(
        f"{hub.url}/hub/api/users/alice", headers=bearing(token["token"]), timeout=30
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {
        "name": "alice",
        "kind": "user",
        "admin": False,
        "groups": [],
        "user_info": None,
    }


def test_deleting_the_workspace_ends_its_tokens(hub):
    owner = person(hub, *ALICE)
    api = hub.api(owner)
    created = api.post(f"{hub.url}/api/v1/workspaces/", json={"name": "doomed"}, timeout=30)
    assert created.status_code == 201, created.text
    workspace = hub.wait_for_state(owner, created.json()["id"], "running")
    url = f"{hub.url}/api/v1/workspaces/{workspace['id']}/token/"
    assert api.post(url, json={"lifetime": 600}, timeout=30).status_code == 200
    note = "MLHub portal: token for workspace alice/doomed, asked by alice"
    assert note in {t["note"] for t in hub.hub_tokens("alice")}
    assert (
        api.delete(f"{hub.url}/api/v1/workspaces/{workspace['id']}/", timeout=30).status_code == 204
    )
    poll_until(
        lambda: note not in {t["note"] for t in hub.hub_tokens("alice")},
        timeout=90,
        what="the deleted workspace's token still in the hub",
    )
