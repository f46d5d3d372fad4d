"""What the benchmarks share: the commit they print with their figures, what a run left."""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker

from lib.labels import LABEL_ORIGIN

ROOT = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """The checkout's commit as `git describe` says it (``-dirty`` with local changes)."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def leftovers(client: docker.DockerClient, hub: str) -> list[str]:
    """Names of the containers, networks and volumes of the hub named ``hub`` still there."""
    origin = {"label": f"{LABEL_ORIGIN}={hub}"}
    # The plain listing: containers.list() inspects each, and one may go in between.
    names = [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=origin)]
    found = client.networks.list(filters=origin) + client.volumes.list(filters=origin)
    return names + [item.name for item in found]
