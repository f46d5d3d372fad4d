"""How long one cleanup ``users`` pass takes over 100, 300 and 1,000 orphaned workspaces.

Run from the checkout: `.venv/bin/python -m bench.cleanup [--sizes 100,300,1000] [--runs 3]`
(needs a Docker engine and the image mlhub-base:bookworm; see bench/README.md). Target: the
pass grows linearly, and 1,000 containers with their 1,000 volumes go in under 5 s.

For each size N the script creates, in parallel, N volumes and N containers (created from
mlhub-base:bookworm, never started, each with its volume mounted), named and labelled as the
spawner makes them (spawners/docker_spec.py) with this benchmark's own hub name, ``mlbc``,
and owned by N/10 people the portal does not have. Then it times ``cleanup_users`` as the
scheduled task runs it, with the real ``DockerBackend("mlbc")``: first a dry run (the
listing and the decisions only), then the pass that removes them all. Each run creates the
resources anew.

The portal is a throw-away SQLite database with a few hundred people (the pass reads all
their names); the hub is our real client with its HTTP scripted (tests/portal/scripted_hub.py)
answering those same people, so it has no one to remove and the pass measures the engine's
side and the portal's audit entries. Everything labelled ``mlhub.origin=mlbc`` is removed
before the first run (leftovers of an interrupted one) and at the end, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench.common import git_commit
from lib.labels import LABEL_ORIGIN, container_name, volume_name
from spawners.docker_spec import docker_labels as labels

HUB = "mlbc"  # this benchmark's own hub name: nothing else on the engine carries it
IMAGE = "mlhub-base:bookworm"  # created, never started: any small local image does
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 5.0  # the removal pass over 1,000 containers and their 1,000 volumes
SETUP_THREADS = 16  # Docker calls at once while creating (setup, not timed)
PER_PERSON = 10  # workspaces of each gone person
WORK_DIR = "/home/jovyan/work"  # where the spawner mounts a workspace's volume


def gone_person(i: int) -> str:
    return f"gone{i:04d}"  # never a person of the portal (those are "user…")


# The portal: a throw-away SQLite database ---------------------------------------------------


def portal_environment(data_dir: Path) -> None:
    """The portal's settings from a clean environment: nothing of the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("MLHUB_") or name in ("DATABASE_URL", "HUB_NAME", "DEBUG"):
            del os.environ[name]
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SECRET_KEY="bench-only-not-a-secret",
        DEBUG="false",
        HUB_NAME=HUB,
        MLHUB_DATA_DIR=str(data_dir),  # SQLite there, the portal's default (WAL)
        MLHUB_HUB_API_TOKEN="",  # the hub is scripted: no real one is asked
        MLHUB_CLEANUP_GRACE_SECONDS="0",  # the resources are brand new
    )


def portal_setup(data_dir: Path, people: int) -> list[str]:
    """Migrate and seed ``people`` approved people (bulk, unhashed); their names."""
    portal_environment(data_dir)
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone

    from portal.accounts.models import User

    call_command("migrate", verbosity=0)
    names = [f"user{i:05d}" for i in range(people)]
    now = timezone.now()
    User.objects.bulk_create(
        User(
            username=name,
            email=f"{name}@example.org",
            password=make_password(None),  # nobody logs in: no hashing
            approval=User.Approval.APPROVED,
            approved_at=now,
        )
        for name in names
    )
    return names


def scripted_hub(people: list[str]):
    """Our real hub client, its HTTP scripted: every person is a hub user, no stranger."""
    from tests.portal.scripted_hub import ScriptedHub

    hub = ScriptedHub()
    hub.users = set(people)
    return hub


# The engine ---------------------------------------------------------------------------------


def parallel(call: Callable, items: Iterable) -> list:
    """``call`` over ``items`` on a few threads; on an error or Ctrl-C the rest is dropped."""
    pool = ThreadPoolExecutor(SETUP_THREADS)
    try:
        return list(pool.map(call, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def engine_create(client: docker.DockerClient, size: int) -> None:
    """``size`` workspaces of gone people: a volume each, mounted in a created container as
    the spawner mounts it (so it is in use until its container goes)."""

    def create(i: int) -> None:
        user, server = gone_person(i // PER_PERSON), f"ws-{i % PER_PERSON}"
        labelled = labels(HUB, user, server, 0)
        volume = volume_name(HUB, user, server)
        client.api.create_volume(volume, labels=labelled)
        client.api.create_container(
            IMAGE,
            "true",
            name=container_name(HUB, user, server),
            labels=labelled,
            host_config=client.api.create_host_config(binds={volume: {"bind": WORK_DIR}}),
        )

    parallel(create, range(size))


def engine_listing(client: docker.DockerClient) -> dict[str, list[str]]:
    """Everything on the engine labelled with this benchmark's hub, by kind (ids, names)."""
    origin = {"label": f"{LABEL_ORIGIN}={HUB}"}
    return {
        "container": [c["Id"] for c in client.api.containers(all=True, filters=origin)],
        "volume": [v["Name"] for v in client.api.volumes(filters=origin).get("Volumes") or []],
        "network": [n["Id"] for n in client.api.networks(filters=origin)],
    }


def engine_clear(client: docker.DockerClient) -> int:
    """Remove everything labelled with this benchmark's hub (containers first: they hold
    the volumes); how many there were."""
    found = engine_listing(client)
    parallel(lambda id_: client.api.remove_container(id_, force=True), found["container"])
    parallel(lambda name: client.api.remove_volume(name, force=True), found["volume"])
    parallel(client.api.remove_network, found["network"])
    return sum(len(ids) for ids in found.values())


def engine_clear_uninterrupted(client: docker.DockerClient) -> None:
    """The final clear-up, which a second Ctrl-C must not cut short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        left = engine_clear(client)
        if left:
            print(f"removed {left} resources labelled {LABEL_ORIGIN}={HUB}", flush=True)
    finally:
        signal.signal(signal.SIGINT, previous)


# Timing -------------------------------------------------------------------------------------


def timed_pass(hub, *, dry_run: bool) -> dict:
    """One ``cleanup_users`` pass with a fresh backend (as each scheduled task makes one), and
    where its time went: the listing, the removals of each kind, the SQL (the audit entries)."""
    from django.db import connection

    from portal.cleanup.service import cleanup_users
    from spawners.cleanup.docker_backend import DockerBackend

    clocks = {"listing": 0.0, "container": 0.0, "volume": 0.0, "network": 0.0, "sql": 0.0}
    lock = threading.Lock()
    in_flight: dict[str, list] = {}  # kind: [removals under way, since when]

    class ClockedBackend(DockerBackend):
        """The real backend, its calls clocked. A kind's clock runs while at least one of
        its removals is under way, so removals that overlap count once."""

        def resources(self):
            started = time.perf_counter()
            try:
                return super().resources()
            finally:
                clocks["listing"] += time.perf_counter() - started

        def remove(self, resource):
            with lock:
                flight = in_flight.setdefault(resource.kind, [0, 0.0])
                if not flight[0]:
                    flight[1] = time.perf_counter()
                flight[0] += 1
            try:
                return super().remove(resource)
            finally:
                with lock:
                    flight[0] -= 1
                    if not flight[0]:
                        clocks[resource.kind] += time.perf_counter() - flight[1]

    def sql(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            clocks["sql"] += time.perf_counter() - started

    hub.calls = 0
    with connection.execute_wrapper(sql):
        started = time.perf_counter()
        report = cleanup_users(dry_run=dry_run, backend=ClockedBackend(HUB), hub=hub)
        seconds = time.perf_counter() - started
    engine = clocks["listing"] + clocks["container"] + clocks["volume"] + clocks["network"]
    return {
        "seconds": seconds,
        **clocks,
        "rest": seconds - engine,  # the people, the hub, the report, the audit entries
        "summary": report.summary,
        "done": report.count("would remove" if dry_run else "removed"),
        "failed": report.count("failed"),
        "errors": report.errors,
        "hub_calls": hub.calls,
    }


def measure(client: docker.DockerClient, hub, size: int, runs: int) -> dict:
    """``runs`` times: create ``size`` workspaces' resources, a dry run, the removal pass."""
    passes, dry_runs, setups = [], [], []
    for run in range(runs):
        started = time.perf_counter()
        engine_create(client, size)
        setups.append(time.perf_counter() - started)
        dry = timed_pass(hub, dry_run=True)
        real = timed_pass(hub, dry_run=False)
        left = engine_listing(client)
        for result in (dry, real):
            # Every resource found and decided on, none failed, nothing left behind.
            assert result["done"] == 2 * size and not result["failed"], result
            assert not result["errors"], result
        assert not any(left.values()), f"left behind: { {k: len(v) for k, v in left.items()} }"
        dry_runs.append(dry)
        passes.append(real)
        print(
            f"[{size}] run {run + 1}/{runs}: created in {setups[-1]:.1f} s; dry run "
            f"{dry['seconds']:.3f} s, removal pass {real['seconds']:.3f} s "
            f"(listing {real['listing']:.3f}, containers {real['container']:.3f}, volumes "
            f"{real['volume']:.3f}, the rest {real['rest']:.3f} of which SQL {real['sql']:.3f})",
            flush=True,
        )
    return {
        "size": size,
        "resources": 2 * size,
        "setup_seconds": setups,
        "dry": dry_runs,
        "passes": passes,
    }


# Report -------------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def median_of(passes: list[dict], key: str) -> float:
    return statistics.median(p[key] for p in passes)


def report(result: dict) -> None:
    m = result["machine"]
    print(
        f"\n{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, Docker {m['docker']} "
        f"({m['storage_driver']}), docker SDK {m['docker_sdk']}, SQLite {m['sqlite']}, "
        f"commit {m['commit']}, load average {m['load_before']:.2f} before and "
        f"{m['load_after']:.2f} after"
    )
    print(
        f"Portal: {result['people']} people (SQLite); hub: our client scripted, answering the "
        f"same {result['people']} (no one to remove), so the pass is the engine's side and "
        f"the audit entries. {PER_PERSON} workspaces (a created container + a volume) per "
        f"gone person. Seconds: median (min–max) of the runs."
    )
    print(
        f"\n{'size':>6}{'resources':>11}{'runs':>6}{'removal pass':>24}{'dry run':>24}"
        f"{'s per 1,000':>13}{'listing':>9}{'containers':>12}{'volumes':>9}{'rest':>7}{'SQL':>7}"
    )
    for size in result["sizes"]:
        seconds = [p["seconds"] for p in size["passes"]]
        parts = "".join(
            f"{median_of(size['passes'], key):{width}.3f}"
            for key, width in (
                ("listing", 9),
                ("container", 12),
                ("volume", 9),
                ("rest", 7),
                ("sql", 7),
            )
        )
        print(
            f"{size['size']:>6,}{size['resources']:>11,}{len(seconds):>6}{spread(seconds):>24}"
            f"{spread([d['seconds'] for d in size['dry']]):>24}"
            f"{statistics.median(seconds) / size['resources'] * 1000:13.3f}{parts}"
        )
    print(
        "\ns per 1,000: the removal pass's median per 1,000 resources (containers and volumes"
        "\nboth count). Medians within the removal pass: listing, the backend's resources();"
        "\ncontainers, volumes: while the backend removed them; rest: everything else (the"
        "\npeople's names, the scripted hub, the report, one audit entry per removal), of which"
        "\nSQL is the database's own time."
    )
    growth = result.get("growth")
    if growth:
        print(
            f"growth: time({growth['large']:,}) / time({growth['small']:,}) = "
            f"{growth['ratio']:.2f} (linear: {growth['linear']:.1f}), dry run "
            f"{growth['dry_ratio']:.2f}"
        )
    target = result.get("target")
    if target:
        verdict = "met" if target["met"] else "NOT met"
        print(
            f"target: 1,000 containers + 1,000 volumes removed in under {TARGET_SECONDS:.0f} s: "
            f"{verdict} (median {target['seconds']:.3f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default="100,300,1000",
        help="workspaces (a container and a volume each) per size (default %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument(
        "--people", type=int, default=300, help="people in the portal and the hub (default 300)"
    )
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < PER_PERSON or args.runs < 1:
        raise SystemExit(f"--sizes must be at least {PER_PERSON} each, --runs at least 1")
    # A stop from outside clears up like Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    client = docker.from_env(timeout=120, max_pool_size=SETUP_THREADS)
    client.images.get(IMAGE)  # fails at once, before anything is created, without the image
    load_before = os.getloadavg()[0]
    measured = []
    try:
        left = engine_clear(client)
        if left:
            print(f"removed {left} leftovers labelled {LABEL_ORIGIN}={HUB}", flush=True)
        with tempfile.TemporaryDirectory(prefix="mlhub-bench-cleanup-") as data:
            people = portal_setup(Path(data), args.people)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT sqlite_version()")
                sqlite = cursor.fetchone()[0]
            hub = scripted_hub(people)
            for size in sizes:
                measured.append(measure(client, hub, size, args.runs))
            connection.close()
    finally:
        engine_clear_uninterrupted(client)

    version = client.version()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "docker": version["Version"],
            "storage_driver": client.info()["Driver"],
            "docker_sdk": docker.__version__,
            "sqlite": sqlite,
            "commit": git_commit(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        },
        "people": args.people,
        "per_person": PER_PERSON,
        "runs": args.runs,
        "sizes": measured,
    }
    small, large = measured[0], measured[-1]
    if large["size"] > small["size"]:
        result["growth"] = {
            "small": small["size"],
            "large": large["size"],
            "linear": large["size"] / small["size"],
            "ratio": median_of(large["passes"], "seconds") / median_of(small["passes"], "seconds"),
            "dry_ratio": median_of(large["dry"], "seconds") / median_of(small["dry"], "seconds"),
        }
    for size in measured:
        if size["size"] == 1000:
            seconds = median_of(size["passes"], "seconds")
            result["target"] = {"seconds": seconds, "met": seconds < TARGET_SECONDS}
    report(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cleanup-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        raise SystemExit(f"interrupted; nothing labelled {LABEL_ORIGIN}={HUB} is left") from None
