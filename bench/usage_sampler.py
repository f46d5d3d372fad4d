"""How long one usage sampler pass takes over N running workspaces (target: 200 in < 2 s).

Run from the checkout: `.venv/bin/python -m bench.usage_sampler [--size 200] [--runs 3]
[--engine docker|scripted]`. ``docker`` needs a Docker engine and the image
mlhub-base:bookworm (bench/README.md); ``scripted`` times the portal's side alone.

The portal is a throw-away SQLite database with N people, each with one running workspace
and its open usage interval. With ``docker`` the script starts N containers (``sleep``, from
mlhub-base:bookworm) named and labelled as the spawner names them, with this benchmark's own
hub name ``mlbs``, and times ``usage_sample`` with the real ``DockerBackend("mlbs")``: the
stats calls with ``one_shot`` (the sampler's way) and, for comparison, one pass without it
(the engine then waits for a second reading of each container). With ``scripted`` the engine
is a DockerBackend whose listing and stats answer from memory. Everything labelled
``mlhub.origin=mlbs`` is removed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.cleanup import parallel, portal_environment
from bench.common import git_commit
from lib.labels import LABEL_ORIGIN, container_name
from spawners.docker_spec import docker_labels as labels

HUB = "mlbs"
IMAGE = "mlhub-base:bookworm"
TARGET_SECONDS = 2.0


def portal_setup(data_dir: Path, size: int) -> list[str]:
    """N people, each with a running workspace "ws" and its open interval; their names."""
    portal_environment(data_dir)
    os.environ["HUB_NAME"] = HUB  # the sampler names containers by the portal's HUB_NAME
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from portal.accounts.models import User
    from portal.usage.models import UsageInterval
    from portal.workspaces.models import Workspace, WorkspaceTemplate

    call_command("migrate", verbosity=0)
    names = [f"user{i:05d}" for i in range(size)]
    now = timezone.now()
    people = User.objects.bulk_create(
        User(username=name, hub_name=name, approval=User.Approval.APPROVED) for name in names
    )
    template = WorkspaceTemplate.objects.get(name="default")
    workspaces = Workspace.objects.bulk_create(
        Workspace(owner=person, name="ws", template=template, state="running", cpu=1, memory=2**30)
        for person in people
    )
    UsageInterval.objects.bulk_create(
        UsageInterval(
            workspace=workspace,
            workspace_name="ws",
            owner=workspace.owner,
            owner_name=workspace.owner.username,
            template_name="default",
            cpu=1,
            memory=2**30,
            gpus=0,
            started_at=now,
        )
        for workspace in workspaces
    )
    return names


class ScriptedDocker:
    """The real DockerBackend with its two engine calls answered from memory."""

    def __new__(cls, names: list[str]):
        from spawners.cleanup.docker_backend import DockerBackend

        class Scripted(DockerBackend):
            def _running(self) -> list[dict]:
                return [
                    {"Id": f"id-{name}", "Names": [f"/{container_name(HUB, name, 'ws')}"]}
                    for name in names
                ]

            def _stats(self, container_id: str) -> dict:
                return {
                    "cpu_stats": {"cpu_usage": {"total_usage": time.monotonic_ns()}},
                    "memory_stats": {"usage": 2**20, "max_usage": 2**21},
                }

        return Scripted(HUB, client=None)


def containers_start(client, names: list[str]) -> None:
    def start(name: str) -> None:
        client.containers.run(
            IMAGE,
            ["sleep", "infinity"],
            name=container_name(HUB, name, "ws"),
            labels=labels(HUB, name, "ws", 0),
            detach=True,
            init=True,
        )

    parallel(start, names)


def timed(backend, runs: int) -> list[float]:
    from portal.usage.sampler import usage_sample

    took = []
    for _ in range(runs):
        began = time.perf_counter()
        done = usage_sample(backend=backend)
        took.append(time.perf_counter() - began)
        assert not done.unavailable and done.sampled == done.running, done.summary
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=["docker", "scripted"], default="docker")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        names = portal_setup(Path(data), options.size)
        print(f"commit {git_commit()}: {options.size} running workspaces, {options.engine}")
        if options.engine == "scripted":
            took = timed(ScriptedDocker(names), options.runs)
            print(f"pass, median of {options.runs}: {statistics.median(took):.3f} s")
            return
        import docker

        from spawners.cleanup.docker_backend import DockerBackend
        from tests.docker_engine import remove_everything_of

        client = docker.from_env(timeout=120)
        remove_everything_of(client, HUB)
        try:
            containers_start(client, names)
            running = client.api.containers(filters={"label": f"{LABEL_ORIGIN}={HUB}"})
            assert len(running) == options.size, f"{len(running)} of {options.size} running"
            backend = DockerBackend(HUB, client=client)
            took = timed(backend, options.runs)
            median = statistics.median(took)
            verdict = "within" if median < TARGET_SECONDS else "OVER"
            print(f"pass (one_shot), median of {options.runs}: {median:.3f} s ({verdict} target)")

            class TwoReadings(DockerBackend):
                def _stats(self, container_id: str) -> dict:
                    return self.client.api.stats(container_id, stream=False)

            (without,) = timed(TwoReadings(HUB, client=client), 1)
            print(f"pass without one_shot, one run: {without:.3f} s")
        finally:
            remove_everything_of(client, HUB)


if __name__ == "__main__":
    main()
