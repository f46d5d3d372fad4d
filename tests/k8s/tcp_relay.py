"""A local port that relays every connection to a pod's address: the test cluster's pods
answer on their IPs from this machine, and a browser needs http://localhost:<port> for the
per-person origins (<name>.localhost). `kubectl port-forward` dropped connections under a
browser's load (RemoteDisconnected, seen here); this carries bytes and nothing else.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading


class _Relay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            upstream = socket.create_connection(self.server.target, timeout=10)
        except OSError:
            return
        upstream.settimeout(None)
        with upstream, selectors.DefaultSelector() as watching:
            peers = {self.request: upstream, upstream: self.request}
            for side in peers:
                watching.register(side, selectors.EVENT_READ)
            while True:
                for key, _ in watching.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peers[key.fileobj].sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class TcpRelay:
    """``TcpRelay(port, (pod_ip, 8000))``: 127.0.0.1:port relays to the pod until ``close()``."""

    def __init__(self, port: int, target: tuple[str, int]):
        self._server = _Server(("127.0.0.1", port), _Relay)
        self._server.target = target
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
