"""A spawner whose servers cost nothing: every one of them is one shared tiny HTTP server.

For benchmarks of what the hub and the portal do with many running servers (bench/sync.py),
not of the servers themselves. ``start()`` returns the address in ``BENCH_TINY_URL`` (a server
the benchmark runs; it answers 200 to anything, which is all the hub's readiness check and
the proxy need), ``poll()`` says "running" until ``stop()``, and ``stop()`` only forgets.

It keeps ``spawners.state_reports.ReportsState``: the hub reports every start, ready and stop
to the portal as with the real spawners. It leaves out ``ReadyWhenListening`` (the shared
server listens before the first start).
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from jupyterhub.spawner import Spawner

from spawners.state_reports import ReportsState


class _Tiny(Spawner):
    _running = False

    async def start(self) -> tuple[str, int]:
        address = urlsplit(os.environ["BENCH_TINY_URL"])
        self._running = True
        return address.hostname or "127.0.0.1", address.port or 80

    async def poll(self) -> int | None:
        return None if self._running else 0

    async def stop(self, now: bool = False) -> None:
        self._running = False


class TinySpawner(ReportsState, _Tiny):
    """What the benchmark's hub override (bench/hub_override.py) makes the spawner class."""


class _Answer200(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # the name http.server looks for
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass  # the hub's readiness checks would fill the terminal


def tiny_server_start() -> tuple[ThreadingHTTPServer, str]:
    """The shared server on a free loopback port, served by a daemon thread; and its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer200)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="tiny-server", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
