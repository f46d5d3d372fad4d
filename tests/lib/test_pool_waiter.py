"""The warm pool waiter's facts about its image (deploy/workspace/pool_waiter.py, loaded from
its file: in the image it is /usr/local/bin/mlhub-pool-waiter, not a module)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[2] / "deploy" / "workspace"


def _load_waiter():
    spec = importlib.util.spec_from_file_location("mlhub_pool_waiter", WORKSPACE / "pool_waiter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_claim_without_a_command_runs_the_images_own_cmd():
    """A Kubernetes start leaves the image's CMD (kubespawner's ``cmd`` unset): the waiter
    stands in for it, so it must be the Dockerfile's."""
    dockerfile = (WORKSPACE / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    assert _load_waiter().IMAGE_COMMAND == json.loads(cmd)


def test_the_waiters_claim_facts_are_the_hubs():
    from lib import pools

    waiter = _load_waiter()
    assert (waiter.KEY_ENV, waiter.CLAIM_PORT, waiter.CLAIM_TAKEN) == (
        pools.KEY_ENV,
        pools.CLAIM_PORT,
        pools.CLAIM_TAKEN,
    )
    assert waiter.CLAIM_MAX_BYTES == pools.CLAIM_MAX_BYTES
    assert waiter.CHANNEL == pools.CHANNEL


IDENTITY = {"env": {"JUPYTERHUB_API_TOKEN": "t0ken"}, "command": ["jupyterhub-singleuser"]}


def _waiting(tmp_path, key: str):
    """The waiter's claim_wait in a thread, on a real pipe and a real port; (its port, the
    pipe's path, a future of what it returns)."""
    import os
    import socket
    from concurrent.futures import ThreadPoolExecutor

    channel = tmp_path / "identity"
    os.mkfifo(channel, 0o600)
    listener = socket.create_server(("127.0.0.1", 0))
    future = ThreadPoolExecutor(1).submit(_load_waiter().claim_wait, str(channel), listener, key)
    return listener.getsockname()[1], channel, future


def _send(port: int, message) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(json.dumps(message).encode() + b"\n")
        return connection.recv(100)


def test_a_claim_on_the_port_without_the_slots_key_is_refused_and_the_waiter_waits_on(tmp_path):
    port, _, future = _waiting(tmp_path, "the-slots-key")
    assert _send(port, {"key": "a-guess", "identity": {"env": {}, "command": ["sh"]}}) == (
        b"refused\n"
    )
    assert _send(port, ["not", "a", "claim"]) == b"refused\n"
    assert not future.done()
    assert _send(port, {"key": "the-slots-key", "identity": IDENTITY}) == b"claimed\n"
    assert future.result(timeout=5) == IDENTITY


def test_a_claim_through_the_pipe_is_taken_too(tmp_path):
    """Kubernetes' pod exec (and a hub from before the port) write the pipe."""
    _, channel, future = _waiting(tmp_path, "")
    with open(channel, "w", encoding="utf-8") as pipe:  # a writer that goes with nothing
        pass
    assert not future.done()
    with open(channel, "w", encoding="utf-8") as pipe:
        pipe.write(json.dumps(IDENTITY))
    assert future.result(timeout=5) == IDENTITY
