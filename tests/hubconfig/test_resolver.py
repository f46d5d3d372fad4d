"""The hub's own HTTP client resolves names with getaddrinfo in a thread (hubconfig/resolver.py),
not with aiodns's c-ares thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jupyterhub.httpclient import JupyterHubHTTPClient

from hubconfig.resolver import ThreadedResolverPerLoop
from tests.hubconfig.test_jupyterhub_config import hub_env, load  # noqa: F401 -- a fixture


def test_it_resolves_in_every_loop_it_is_used_in():
    resolver = ThreadedResolverPerLoop()  # made with no loop running, as the config is

    async def lookup():
        return await resolver.resolve("localhost", 8080, socket.AF_INET)

    for _ in range(2):  # a loop, then another: each gets its own
        found = asyncio.run(lookup())
        assert {(r["hostname"], r["host"], r["port"]) for r in found} == {
            ("localhost", "127.0.0.1", 8080)
        }


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_the_hubs_http_client_resolves_with_it(hub_env, local_server):  # noqa: F811
    config = load()
    resolver = config.JupyterHubHTTPClient.connector_options["resolver"]
    assert isinstance(resolver, ThreadedResolverPerLoop)

    async def fetch():
        # The one instance, as the hub makes it (its parent the app, whose config this is).
        client = JupyterHubHTTPClient.instance(config=config)
        try:
            # By name: an address would skip the resolver.
            response = await client.fetch(f"http://localhost:{local_server}/")
            used = client.connector_options["resolver"]
            # It made this loop's resolver: the lookup was its.
            return await response.text(), used, asyncio.get_running_loop() in used._resolvers
        finally:
            await client.close()

    body, used, looked_up = asyncio.run(fetch())
    assert body == "hello"
    assert isinstance(used, ThreadedResolverPerLoop)
    assert looked_up
