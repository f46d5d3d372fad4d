"""What the benchmarks share: the commit they print with their figures, what a run left."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import docker

from lib.labels import LABEL_ORIGIN
from tests.docker_engine import remove_everything_of

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


def docker_bench_start(
    description: str,
    default_runs: int,
    image: str,
    hub: str,
    parser: argparse.ArgumentParser | None = None,
) -> tuple[argparse.Namespace, docker.DockerClient]:
    """A Docker benchmark's start: its arguments (``--runs``, and those of ``parser`` when
    given), and the engine, with ``image`` there and nothing left of an earlier run's
    ``hub``."""
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--runs",
        type=int,
        default=default_runs,
        help=f"timed runs of each (default {default_runs})",
    )
    arguments = parser.parse_args()
    client = docker.from_env(timeout=60)
    client.images.get(image)  # ImageNotFound: build it first (make workspace-image)
    remove_everything_of(client, hub)
    return arguments, client


RESULTS = Path(__file__).resolve().parent / "results"


def result_write(prefix: str, figures: dict) -> Path:
    """``figures`` with when, the commit and the machine, as
    ``bench/results/<prefix>-<UTC timestamp>.json``; its path, also printed."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp,
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{prefix}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")
    return out
