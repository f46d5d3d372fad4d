#!/usr/bin/env python3
"""A warm pool slot's process: load the single-user server's code, then wait to be claimed.

A slot (issue 26; lib/pools.py) is a workspace container made before anyone asks for it.
It belongs to nobody: no token, no person's variables, on a network of its own that reaches
nothing. This process imports what the Jupyter server and its extensions import (about
two thirds of a start, docs/performance.md) and then blocks on a named pipe that only a
``docker exec`` into this container can write: the hub's spawner, at the claim, writes the
server's identity (its command, API token, OAuth client, URL prefix) into it from an exec's
environment (lib/pools.py CLAIM_COMMAND) as the container joins the person's network and
leaves the pool's. The waiter then becomes the server, in this process, with its imports
already done.

Only the image's own ``jupyterhub-singleuser`` is started warm; any other command is run in
this process's place as the image's entrypoint would (correct, just not faster).
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import json
import os
import subprocess
import sys
import time

# The pipe's folder is the workspace user's alone (0700): nothing but a process of this
# user in this container opens it, and before the claim there is none but this one.
CHANNEL_DIR = "/tmp/mlhub-pool"
CHANNEL = f"{CHANNEL_DIR}/identity"
# Made once the imports are done: the slot's health check ("ready") looks for it.
READY = f"{CHANNEL_DIR}/ready"
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
    warm_up()
    with open(READY, "w", encoding="utf-8"):
        pass
    with open(CHANNEL, encoding="utf-8") as channel:  # blocks until the claim writes
        identity = json.load(channel)
    for path in (CHANNEL, READY):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return serve(identity["env"], identity["command"])


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
