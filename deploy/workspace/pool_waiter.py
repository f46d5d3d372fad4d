#!/usr/bin/env python3
"""A warm pool slot's process: load the single-user server's code, then wait to be claimed.

A slot (issue 26; lib/pools.py) is a workspace container made before anyone asks for it.
It belongs to nobody: no token, no person's variables, on a network of its own that reaches
nothing. This process imports what the Jupyter server and its extensions import (about
two thirds of a start, docs/performance.md) and then waits for the claim, which brings the
server's identity (its command, API token, OAuth client, URL prefix):

- in Docker, as one line on the claim port (lib/pools.py CLAIM_PORT) with the slot's own
  key, which only the engine's users (the hub, the portal) can read from the container; the
  hub sends it once the container is on the person's network;
- through a named pipe that only an exec into this container can write: the pod exec API in
  Kubernetes (lib/pools.py CLAIM_FROM_STDIN), ``docker exec`` from a hub that predates the
  port (CLAIM_COMMAND).

The waiter then becomes the server, in this process, with its imports already done.

Only the image's own ``jupyterhub-singleuser`` is started warm; any other command is run in
this process's place as the image's entrypoint would (correct, just not faster).
"""

from __future__ import annotations

import contextlib
import glob
import hmac
import importlib
import json
import os
import selectors
import socket
import subprocess
import sys
import time

# The pipe's folder is the workspace user's alone (0700): nothing but a process of this
# user in this container opens it, and before the claim there is none but this one.
CHANNEL_DIR = "/tmp/mlhub-pool"
CHANNEL = f"{CHANNEL_DIR}/identity"
# Made once the imports are done: the slot's health check ("ready") looks for it.
READY = f"{CHANNEL_DIR}/ready"
# Docker: the slot's own key and the port the claim comes to (lib/pools.py, KEY_ENV and on).
KEY_ENV = "MLHUB_POOL_KEY"
CLAIM_PORT = 8887
CLAIM_TAKEN = b"claimed\n"
CLAIM_MAX_BYTES = 1024 * 1024
CLAIM_READ_SECONDS = 5  # one connection's time to send its line
ENTRYPOINT = "/usr/local/bin/mlhub-workspace-start"
# The image's CMD (deploy/workspace/Dockerfile): what a claim that names no command runs (a
# Kubernetes start without ``cmd`` leaves the image's own).
IMAGE_COMMAND = ["jupyterhub-singleuser"]
# Variables that choose another single-user application at import time
# (jupyterhub/singleuser/__init__.py): a claim that sets them is not started warm.
APP_CHOICE = ("JUPYTERHUB_SINGLEUSER_APP", "JUPYTERHUB_SINGLEUSER_EXTENSION")


def say(text: str) -> None:
    print(f"mlhub-pool-waiter: {text}", file=sys.stderr, flush=True)


def server_extensions() -> list[str]:
    """The server extensions this image enables (jupyter_server_config.d in the environment),
    whose modules the server imports as it starts."""
    found: list[str] = []
    pattern = os.path.join(sys.prefix, "etc", "jupyter", "jupyter_server_config.d", "*.json")
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, encoding="utf-8") as file:
                enabled = json.load(file).get("ServerApp", {}).get("jpserver_extensions", {})
        except (OSError, ValueError, AttributeError):
            continue
        found += [name for name, on in enabled.items() if on]
    return found


# Imported by a start after its extensions load (measured with PYTHONPROFILEIMPORTTIME in a
# claimed slot: about a quarter of a second of a warm start went to these).
LATE_IMPORTS = (
    "IPython",
    "httpx",
    "httpcore",
    "tornado.platform.asyncio",
    "jupyter_server.services.kernels.kernelmanager",
    "jupyter_server.services.contents.largefilemanager",
)


def extension_modules(name: str) -> list[str]:
    """An extension's own module and those of the apps it declares
    (``_jupyter_server_extension_points``), which the server imports as it links them."""
    module = importlib.import_module(name)
    found = [name]
    points = getattr(module, "_jupyter_server_extension_points", None)
    for point in points() if callable(points) else []:
        app = point.get("app")
        found.append(app.__module__ if app is not None else point.get("module", ""))
    return [item for item in found if item]


def warm_up() -> None:
    """Import what a start imports. A module that fails here is imported (and fails) again
    at the server's start, where its error belongs."""
    began = time.perf_counter()
    modules = ["jupyterhub.singleuser", "jupyter_server.serverapp"]
    for name in server_extensions():
        try:
            modules += extension_modules(name)
        except Exception as error:  # any: the server reports it properly later
            say(f"could not load {name} ahead ({error.__class__.__name__}); it loads at start")
    for module in [*modules, *LATE_IMPORTS]:
        try:
            importlib.import_module(module)
        except Exception as error:
            say(f"could not load {module} ahead ({error.__class__.__name__}); it loads at start")
    say(f"loaded in {time.perf_counter() - began:.2f} s; waiting to be claimed")


def wait() -> int:
    os.makedirs(CHANNEL_DIR, mode=0o700, exist_ok=True)
    os.chmod(CHANNEL_DIR, 0o700)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(CHANNEL)
    os.mkfifo(CHANNEL, 0o600)
    key = os.environ.pop(KEY_ENV, "")
    # Listening before "ready": a claim never finds the port closed.
    listener = socket.create_server(("0.0.0.0", CLAIM_PORT)) if key else None
    warm_up()
    with open(READY, "w", encoding="utf-8"):
        pass
    identity = claim_wait(CHANNEL, listener, key)
    if listener is not None:
        listener.close()
    for path in (CHANNEL, READY):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return serve(identity["env"], identity["command"])


def claim_wait(channel: str, listener: socket.socket | None, key: str) -> dict:
    """The identity, from whichever channel the claim uses: a line on the claim port with
    the slot's key (Docker), or the pipe (``docker exec`` of a hub before the port, the pod
    exec API in Kubernetes)."""
    pipe = os.open(channel, os.O_RDONLY | os.O_NONBLOCK)  # no writer yet: not at its end
    received = b""
    with selectors.DefaultSelector() as ready:
        ready.register(pipe, selectors.EVENT_READ, "pipe")
        if listener is not None:
            ready.register(listener, selectors.EVENT_READ, "port")
        while True:
            for event, _ in ready.select():
                if event.data == "port":
                    identity = claim_from_port(listener, key)
                    if identity is not None:
                        os.close(pipe)
                        return identity
                    continue
                try:
                    chunk = os.read(pipe, 65536)
                except BlockingIOError:  # a writer opened the pipe, nothing written yet
                    continue
                if chunk:
                    received += chunk
                    continue
                if received:  # its writer closed: the whole line is in
                    os.close(pipe)
                    return json.loads(received)
                # A writer came and went with nothing: open again, or it reads as ended.
                ready.unregister(pipe)
                os.close(pipe)
                pipe = os.open(channel, os.O_RDONLY | os.O_NONBLOCK)
                ready.register(pipe, selectors.EVENT_READ, "pipe")


def claim_from_port(listener: socket.socket, key: str) -> dict | None:
    """One connection's line: the identity when it holds the slot's key, else None (refused,
    and the waiter waits on)."""
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(CLAIM_READ_SECONDS)
        received = b""
        try:
            while not received.endswith(b"\n") and len(received) < CLAIM_MAX_BYTES:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
            message = json.loads(received)
            given = str(message.get("key", "")).encode()
            if not hmac.compare_digest(given, key.encode()):
                raise ValueError("not the slot's key")
            identity = message["identity"]
            connection.sendall(CLAIM_TAKEN)
        except (OSError, ValueError, KeyError, AttributeError) as error:
            say(f"a claim was refused ({error.__class__.__name__}); waiting on")
            with contextlib.suppress(OSError):
                connection.sendall(b"refused\n")
            return None
    return identity


def serve(environment: dict[str, str], command: list[str]) -> int:
    """Become the workspace's server, as the image's entrypoint would start it."""
    os.environ.update(environment)
    # The entrypoint's own steps (the owner's sshd), then nothing: "true" is its command.
    subprocess.run([ENTRYPOINT, "true"], check=False)
    os.environ.pop("MLHUB_SSH_AUTHORIZED_KEYS", None)
    command = command or IMAGE_COMMAND
    warm = command and os.path.basename(command[0]) == "jupyterhub-singleuser"
    if not warm or any(os.environ.get(name) for name in APP_CHOICE):
        say(f"claimed; starting {command[0]} cold")
        os.execvp(command[0], command)
    say("claimed; starting the server")
    sys.argv = list(command)
    from jupyterhub.singleuser import main

    return main() or 0


if __name__ == "__main__":
    sys.exit(wait())
