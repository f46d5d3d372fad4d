"""The hub client turns every failure into one HubError with the hub's status and message.

A small real HTTP server stands in for the hub, so the client's real HTTP path is used.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.hub.client import HubClient, HubError


class FakeHub(BaseHTTPRequestHandler):
    routes: dict[tuple[str, str], tuple[int, object]] = {}
    seen: list[tuple[str, str, dict]] = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self.seen.append((self.command, self.path, dict(self.headers), body))
        status, payload = self.routes.get((self.command, self.path.split("?")[0]), (404, {}))
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    FakeHub.routes, FakeHub.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeHub, HubClient(f"http://127.0.0.1:{server.server_port}/hub/api", "secret")
    server.shutdown()


def test_an_unreachable_hub_is_a_503_that_says_so():
    with pytest.raises(HubError) as caught:
        HubClient("http://127.0.0.1:9/hub/api", "t").user_get("alice")
    assert caught.value.status == 503
    assert "not reachable" in caught.value.message
    assert caught.value.is_outage


def test_the_hubs_own_message_and_status_come_through(fake_hub):
    hub, client = fake_hub
    hub.routes[("POST", "/hub/api/users/alice/servers/ws")] = (
        400,
        {"status": 400, "message": "alice's server ws is already running"},
    )
    with pytest.raises(HubError) as caught:
        client.server_start("alice", "ws", {})
    assert caught.value.status == 400
    assert caught.value.message == "alice's server ws is already running"
    assert not caught.value.is_outage


def test_a_refused_token_is_an_outage_not_the_callers_fault(fake_hub):
    hub, client = fake_hub
    hub.routes[("GET", "/hub/api/users/alice")] = (403, {"message": "Action is not authorized"})
    with pytest.raises(HubError) as caught:
        client.user_get("alice")
    assert caught.value.is_outage


def test_a_non_json_error_page_still_gives_a_message(fake_hub):
    hub, client = fake_hub
    hub.routes[("GET", "/hub/api/users/alice")] = (502, "<html>Bad gateway</html>")
    with pytest.raises(HubError) as caught:
        client.user_get("alice")
    assert caught.value.status == 502
    assert "Bad gateway" in caught.value.message


def test_it_sends_the_token_and_quotes_names(fake_hub):
    hub, client = fake_hub
    assert client.user_get("a b/c") is None
    method, path, headers, _ = hub.seen[0]
    assert (method, path) == ("GET", "/hub/api/users/a%20b%2Fc")
    assert headers["Authorization"] == "token secret"


def test_user_ensure_accepts_an_existing_user(fake_hub):
    hub, client = fake_hub
    hub.routes[("POST", "/hub/api/users/alice")] = (409, {"message": "exists"})
    client.user_ensure("alice")  # no error


def test_it_reads_every_page_of_users(fake_hub):
    hub, client = fake_hub
    pages = iter(
        [
            {
                "items": [{"name": f"u{i}"} for i in range(2)],
                "_pagination": {"next": {"offset": 2}},
            },
            {"items": [{"name": "u2"}], "_pagination": {"next": None}},
        ]
    )

    class Paged(dict):
        def get(self, key, default=None):
            return (200, next(pages)) if key == ("GET", "/hub/api/users") else default

    hub.routes = Paged()
    names = [user["name"] for user in client.users_list(page_size=2)]
    assert names == ["u0", "u1", "u2"]
    first, second = hub.seen
    assert first[2]["Accept"] == "application/jupyterhub-pagination+json"
    assert "offset=2" in second[1]


def test_a_start_is_asked_with_the_options_and_either_answer_taken(fake_hub):
    hub, client = fake_hub
    # 201 claims "ready" but is not trusted (HubClient.server_start): both are "asked".
    hub.routes[("POST", "/hub/api/users/alice/servers/ready")] = (201, {})
    hub.routes[("POST", "/hub/api/users/alice/servers/slow")] = (202, {})
    assert client.server_start("alice", "ready", {"cpu": 1}) is None
    assert client.server_start("alice", "slow", {}) is None
    assert hub.seen[0][3] == {"cpu": 1}


def test_delete_forgets_the_server_when_asked(fake_hub):
    hub, client = fake_hub
    hub.routes[("DELETE", "/hub/api/users/alice/servers/ws")] = (204, "")
    assert client.server_stop("alice", "ws", remove=True) is True
    assert hub.seen[0][3] == {"remove": True}


def test_active_users_are_asked_for_page_by_page(fake_hub):
    hub, client = fake_hub
    pages = iter(
        [
            {"items": [{"name": "u0"}], "_pagination": {"next": {"offset": 1}}},
            {"items": [{"name": "u1"}], "_pagination": {"next": None}},
        ]
    )

    class Paged(dict):
        def get(self, key, default=None):
            return (200, next(pages)) if key == ("GET", "/hub/api/users") else default

    hub.routes = Paged()
    assert [user["name"] for user in client.users_active(page_size=1)] == ["u0", "u1"]
    assert client.calls == 2
    first, second = hub.seen
    assert first[1] == "/hub/api/users?state=active&offset=0&limit=1"
    assert first[2]["Accept"] == "application/jupyterhub-pagination+json"
    assert second[1] == "/hub/api/users?state=active&offset=1&limit=1"
