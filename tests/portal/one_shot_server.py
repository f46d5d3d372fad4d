"""A server for one request that answers ``reply`` (bytes, maybe none) and hangs up: how a
hub that dies while asked looks to our client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_shot_server(reply: bytes = b"") -> Iterator[str]:
    """Yields the server's ``http://127.0.0.1:<port>``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_and_hang_up():
        connection, _ = listener.accept()
        connection.recv(4096)
        connection.sendall(reply)
        connection.close()

    threading.Thread(target=answer_and_hang_up, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
