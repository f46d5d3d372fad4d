"""Fifty workspaces created at once in Docker mode: how long until all answer, and how the
portal and the hub answer everyone else meanwhile.

Run from the checkout: `.venv/bin/python -m bench.concurrent [--users 10 --per-user 5]`
(needs the Docker engine, the image mlhub-workspace:latest and the Node proxy; see
bench/README.md).

The real stack (gunicorn portal, django-q2, JupyterHub, Node proxy) runs in Docker mode with
its own hub name. Every workspace is created by its owner's `POST /api/v1/workspaces/`, all
at the same moment (one thread each, released together), with the default template. Each
thread then asks `<workspace url>api/status` through the proxy, with its owner's hub token,
until the answer is 200: until then the proxy has no route and the portal answers a redirect.
Two probe threads meanwhile send `GET /api/v1/workspaces/` (the portal, as an admin) and
`GET /hub/api/` (the hub), both through the proxy, one after another with a short pause;
they run for a while before the storm too, for comparison. At the end every workspace must
be `running` through the API and none `starting`; then all are deleted through the API and
the script waits until the engine holds nothing of this hub.

The lecture (issue 26): `--users 100 --per-user 1 --pool 100` creates from a template whose
warm pool of 100 is filled first (untimed), against the same without `--pool`; the figures
add how many took a warm slot and, for the starts that waited in the start queue, whether
they answered in its order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests

from bench import cpu_split
from bench.common import git_commit, leftovers
from lib import pools
from lib.labels import LABEL_ORIGIN, container_name, network_name
from lib.polling import poll_until
from tests.docker_engine import remove_everything_of
from tests.hub_stack import running_stack

HUB = "mlhc"  # this benchmark's own hub name: labels, containers, networks and volumes
IMAGE = "mlhub-workspace:latest"
PASSWORD = "bench-pass-1234"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PROBE_PAUSE = 0.2  # seconds between two requests of one probe
IDLE_SECONDS = 10  # probing before the storm, for comparison


def mem_available() -> int:
    """The host's MemAvailable, bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


class Probe(threading.Thread):
    """Sends one GET after another (a pause between), keeping when each was sent and took."""

    def __init__(self, name: str, url: str, headers: dict[str, str]):
        super().__init__(name=f"probe-{name}", daemon=True)
        self.url, self.samples = url, []  # (sent, seconds, status)
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            sent = time.perf_counter()
            try:
                status = self.session.get(self.url, timeout=60).status_code
            except requests.RequestException:
                status = 0
            self.samples.append((sent, time.perf_counter() - sent, status))
            self.done.wait(PROBE_PAUSE)

    def between(self, start: float, end: float) -> dict:
        took = [s for sent, s, _ in self.samples if start <= sent < end]
        failed = sum(status != 200 for sent, _, status in self.samples if start <= sent < end)
        return percentiles(took) | {"requests": len(took), "not_200": failed}


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None}
    if len(seconds) == 1:
        return {key: seconds[0] * 1000 for key in ("p50_ms", "p95_ms", "max_ms")}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "max_ms": max(seconds) * 1000}


def hub_token_of(hub, user: str) -> str:
    """A hub token of the owner (what a workspace accepts instead of its OAuth cookie)."""
    response = requests.post(
        f"{hub.hub_api}/users/{user}/tokens",
        json={"note": "bench.concurrent"},
        headers={"Authorization": f"token {hub.hub_token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def workspaces_listed(hub) -> list[dict]:
    response = hub.api().get(f"{hub.url}/api/v1/workspaces/?page_size=1000", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def state_counts(hub) -> dict[str, int]:
    counts: dict[str, int] = {}
    for workspace in workspaces_listed(hub):
        counts[workspace["state"]] = counts.get(workspace["state"], 0) + 1
    return counts


def portal_rows(hub) -> int:
    """Workspace rows in the portal's database (SQLite in the data folder), deleting or not."""
    database = Path(hub.stack.environ["MLHUB_DATA_DIR"]) / "portal.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute("SELECT count(*) FROM workspaces_workspace").fetchone()[0]


def containers_usage(client: docker.DockerClient) -> list[tuple[int, float]]:
    """Memory in use (bytes) and CPU used so far (seconds) by each of this hub's containers."""
    origin = {"label": f"{LABEL_ORIGIN}={HUB}"}

    def used(container) -> tuple[int, float]:
        stats = container.stats(stream=False, one_shot=True)
        cpu = stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
        return stats["memory_stats"].get("usage", 0), cpu

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(used, client.containers.list(filters=origin)))


def storm(
    hub, owners: dict[str, dict], per_user: int, timeout: float, template: str | None = None
) -> list[dict]:
    """Create every workspace at once (from ``template``; None: the default one); each
    thread then waits for its api/status 200."""
    jobs = [(user, f"ws{i}") for user in owners for i in range(per_user)]
    gate = threading.Barrier(len(jobs))

    def one(job: tuple[str, str]) -> dict:
        user, name = job
        api = hub.api(owners[user]["token"])
        workspace = requests.Session()
        workspace.headers["Authorization"] = f"token {owners[user]['hub_token']}"
        gate.wait()
        started = time.perf_counter()
        body = {"name": name, **({"template": template} if template else {})}
        created = api.post(f"{hub.url}/api/v1/workspaces/", json=body, timeout=300)
        create_call = time.perf_counter() - started
        assert created.status_code == 201, created.text
        status_url = created.json()["url"] + "api/status"

        def answers() -> bool:  # a redirect (to the hub) until the proxy has its route
            try:
                response = workspace.get(status_url, timeout=30, allow_redirects=False)
            except requests.RequestException:
                return False
            return response.status_code == 200

        poll_until(answers, timeout=timeout, what=f"{status_url} never answered 200", max_wait=1.0)
        return {
            "user": user,
            "name": name,
            "id": created.json()["id"],
            "started": started,
            "create_call": create_call,
            "seconds": time.perf_counter() - started,
            "queue_position": created.json().get("queue_position"),
            "warm": None,
        }

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


LECTURE = "lecture"  # the template of --pool


def pool_ready(hub, size: int) -> str:
    """A template with a warm pool of ``size`` slots, all ready (untimed, before the storm:
    an admin fills the pool before the lecture)."""
    body = {"name": LECTURE, "image": IMAGE, "pool_size": size}
    made = hub.api().post(f"{hub.url}/api/v1/templates/", json=body, timeout=60)
    assert made.status_code == 201, made.text
    began = time.perf_counter()

    def full() -> bool:
        pools = hub.api().get(f"{hub.url}/api/v1/pools/", timeout=60).json()["pools"]
        return any(p["template"] == LECTURE and p["ready"] >= size for p in pools)

    poll_until(full, timeout=1800, what=f"the pool of {size} never filled", max_wait=2.0)
    print(f"a pool of {size} ready after {time.perf_counter() - began:.0f} s", flush=True)
    return LECTURE


def queue_order_kept(spawns: list[dict]) -> dict:
    """Whether the queued starts answered in their queue's order: the rank correlation of
    their places in line (as each create was told) with when each answered (1: in order)."""
    queued = [s for s in spawns if s["queue_position"]]
    if len(queued) < 2:
        return {"queued": len(queued), "rank_correlation": None}
    by_place = sorted(range(len(queued)), key=lambda i: queued[i]["queue_position"])
    answered = [spawn["started"] + spawn["seconds"] for spawn in queued]
    by_answer = sorted(range(len(queued)), key=lambda i: answered[i])
    place_rank = {i: rank for rank, i in enumerate(by_place)}
    answer_rank = {i: rank for rank, i in enumerate(by_answer)}
    n = len(queued)
    d2 = sum((place_rank[i] - answer_rank[i]) ** 2 for i in range(n))
    return {"queued": n, "rank_correlation": 1 - 6 * d2 / (n * (n * n - 1))}


def run(args: argparse.Namespace) -> dict:
    client = docker.from_env(timeout=120)
    client.images.get(IMAGE)  # ImageNotFound: build it first (make workspace-image)
    remove_everything_of(client, HUB)
    owners = {f"cuser{i:02d}": {} for i in range(args.users)}
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-concurrent-") as data:
        # Enough tokens a minute for every owner (the default, 30/min, is for people).
        stack = running_stack(Path(data), "local", HUB, {"MLHUB_TOKEN_RATE": "1000/min"})
        hub = next(stack)
        try:
            for user, owner in owners.items():
                hub.user_create(user, PASSWORD)
                owner["token"] = hub.token_for(user, PASSWORD)
            # The owners' hub tokens need them in the hub (creating a workspace would too).
            created = requests.post(
                f"{hub.hub_api}/users",
                json={"usernames": list(owners)},
                headers={"Authorization": f"token {hub.hub_token}"},
                timeout=60,
            )
            assert created.status_code == 201, created.text
            for user, owner in owners.items():
                owner["hub_token"] = hub_token_of(hub, user)
            return measure(hub, client, owners, args)
        except BaseException:
            print(hub.logs(40))
            # A failed run's logs are always kept: a storm's error is seldom in the last lines
            # (a lecture's one 500 went with its run's logs twice).
            args.keep_logs = args.keep_logs or RESULTS / f"concurrent-{args.stamp}-failed-logs"
            raise
        finally:
            stack.close()
            remove_everything_of(client, HUB)
            if args.keep_logs:
                shutil.copytree(Path(data) / "logs", args.keep_logs, dirs_exist_ok=True)
                print(f"the stack's logs are in {args.keep_logs}")


def measure(hub, client, owners, args) -> dict:
    admin = {"Authorization": f"Token {hub.admin_token}"}
    probes = {
        "portal": Probe("portal", f"{hub.url}/api/v1/workspaces/", admin),
        "hub": Probe("hub", f"{hub.url}/hub/api/", {}),
    }
    template = pool_ready(hub, args.pool) if args.pool else None
    # The fill makes the owners' networks before their slots (portal/pools/networks.py).
    ahead = {n.name for n in client.networks.list(filters={"label": f"{LABEL_ORIGIN}={HUB}"})}
    networks_ahead = sum(network_name(HUB, owner) in ahead for owner in owners)
    for probe in probes.values():
        probe.start()
    idle_from = time.perf_counter()
    memory_before = mem_available()
    time.sleep(IDLE_SECONDS)
    storm_from = time.perf_counter()
    cpu_before = cpu_split.snapshot()
    print(f"{args.users * args.per_user} workspaces created at once ...", flush=True)
    spawns = storm(hub, owners, args.per_user, args.timeout, template)
    storm_to = time.perf_counter()
    cpu_during_storm = cpu_split.split(cpu_before, cpu_split.snapshot())
    all_answered = storm_to - storm_from
    states_at_end = state_counts(hub)
    total = args.users * args.per_user

    def settled() -> bool:
        return state_counts(hub).get("running") == total

    poll_until(settled, timeout=120, what="not every workspace is running in the API")
    settled_after = time.perf_counter() - storm_to
    # Right after all answered: the CPU is almost all the servers' start-up.
    usage = containers_usage(client)
    for spawn in spawns:  # a claimed slot keeps the pool's label (spawners/docker_claim.py)
        container = client.containers.get(container_name(HUB, spawn["user"], spawn["name"]))
        spawn["warm"] = "mlhub.pool" in container.labels
    memory_used = [memory for memory, _ in usage]
    cpu_used = [cpu for _, cpu in usage]
    memory_after = mem_available()
    print(
        f"all {total} answered after {all_answered:.1f} s; states then: {states_at_end}",
        flush=True,
    )

    # Delete them all. Each 204 comes once the hub has stopped the server; a task of the
    # portal then waits until the hub has removed the container, volume and network.
    tokens = {user: owner["token"] for user, owner in owners.items()}

    def delete(spawn: dict) -> float:
        started = time.perf_counter()
        response = hub.api(tokens[spawn["user"]]).delete(
            f"{hub.url}/api/v1/workspaces/{spawn['id']}/", timeout=120
        )
        assert response.status_code == 204, response.text
        return time.perf_counter() - started

    delete_from = time.perf_counter()
    if template:  # after the lecture, as its admin: the pool's slots go too
        lecture = next(
            t
            for t in hub.api().get(f"{hub.url}/api/v1/templates/").json()["results"]
            if t["name"] == template
        )
        emptied = hub.api().patch(
            f"{hub.url}/api/v1/templates/{lecture['id']}/", json={"pool_size": 0}, timeout=60
        )
        assert emptied.status_code == 200, emptied.text
    with ThreadPoolExecutor(len(spawns)) as pool:
        delete_calls = list(pool.map(delete, spawns))
    # The pool's network stays (made once, for the pools to come).
    pool_network = pools.network_name(HUB)
    poll_until(
        lambda: not [item for item in leftovers(client, HUB) if item != pool_network],
        timeout=600,
        what="the engine still holds them",
    )
    engine_empty = time.perf_counter() - delete_from
    delete_to = time.perf_counter()
    for probe in probes.values():
        probe.done.set()
    for probe in probes.values():
        probe.join()
    assert not workspaces_listed(hub), "the API still lists deleted workspaces"

    def hub_forgot() -> bool:
        # The hub lists every user's default server (name "") even when it never ran.
        return not any(
            name
            for user in owners
            for name in (hub.hub_user(user) or {}).get("servers", {})
            if name
        )

    poll_until(hub_forgot, timeout=600, what="the hub still keeps servers")
    hub_forgotten = time.perf_counter() - delete_from
    # The API hides a row being deleted at once; the task forgets it once the hub has.
    poll_until(lambda: not portal_rows(hub), timeout=600, what="the portal still keeps rows")
    rows_gone = time.perf_counter() - delete_from
    print(f"deleted: engine empty after {engine_empty:.1f} s", flush=True)

    seconds = [s["seconds"] for s in spawns]
    return {
        "pool": args.pool,
        "warm_claims": sum(bool(s["warm"]) for s in spawns),
        "networks_made_ahead": networks_ahead,
        "queue": queue_order_kept(spawns),
        "workspaces": total,
        "users": args.users,
        "per_user": args.per_user,
        "all_answered_seconds": all_answered,
        "each": percentiles(seconds) | {"min_s": min(seconds), "max_s": max(seconds)},
        "create_call": percentiles([s["create_call"] for s in spawns]),
        "states_when_all_answered": states_at_end,
        "all_running_in_api_after_seconds": settled_after,
        "probes": {
            name: {
                "idle": probe.between(idle_from, storm_from),
                "storm": probe.between(storm_from, storm_to),
                "deletes": probe.between(delete_from, delete_to),
            }
            for name, probe in probes.items()
        },
        "memory": {
            "containers_total_bytes": sum(memory_used),
            "container_max_bytes": max(memory_used, default=0),
            "container_cpu_seconds_median": statistics.median(cpu_used),
            "container_cpu_seconds_total": sum(cpu_used),
            "host_available_before_bytes": memory_before,
            "host_available_after_bytes": memory_after,
        },
        "cpu_seconds_during_storm": cpu_during_storm,
        "delete": {
            "calls": percentiles(delete_calls),
            "engine_empty_seconds": engine_empty,
            "hub_forgot_seconds": hub_forgotten,
            "rows_gone_seconds": rows_gone,
        },
        "spawns": [{k: v for k, v in s.items() if k != "started"} for s in spawns],
    }


def report(result: dict) -> None:
    m = result["machine"]
    print(
        f"\n{m['cpus']} CPUs, {m['platform']}, Python {m['python']}, Docker {m['docker']}, "
        f"commit {m['commit']}"
    )
    source = f"a pool of {result['pool']}" if result["pool"] else "no pool"
    print(
        f"{result['workspaces']} workspaces ({result['users']} users x {result['per_user']}), "
        f"{source}, created at once; {result['warm_claims']} took a warm slot, "
        f"{result['networks_made_ahead']} found their network made ahead"
    )
    queue = result["queue"]
    if queue["rank_correlation"] is not None:
        print(
            f"{queue['queued']} waited in the start queue; their answers kept its order with "
            f"a rank correlation of {queue['rank_correlation']:.2f} (1: exactly)"
        )
    each = result["each"]
    print(f"all answered api/status 200 after      {result['all_answered_seconds']:8.1f} s")
    print(
        f"each: p50 {each['p50_ms'] / 1000:.1f} s, p95 {each['p95_ms'] / 1000:.1f} s, "
        f"min {each['min_s']:.1f} s, max {each['max_s']:.1f} s"
    )
    create = result["create_call"]
    print(
        f"create call: p50 {create['p50_ms']:.0f} ms, p95 {create['p95_ms']:.0f} ms, "
        f"max {create['max_ms']:.0f} ms"
    )
    print(
        f"states when all answered: {result['states_when_all_answered']}; all running in the "
        f"API {result['all_running_in_api_after_seconds']:.1f} s later"
    )
    print(f"\n{'probe':32}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'not 200':>9}")
    for name, path in (("portal", "GET /api/v1/workspaces/"), ("hub", "GET /hub/api/")):
        for window in ("idle", "storm", "deletes"):
            p = result["probes"][name][window]
            figures = (
                f"{p['p50_ms']:9.0f}{p['p95_ms']:9.0f}{p['max_ms']:9.0f}"
                if p["p50_ms"] is not None
                else f"{'-':>9}{'-':>9}{'-':>9}"
            )
            print(f"{path + ' ' + window:32}{p['requests']:9}{figures}{p['not_200']:9}")
    memory = result["memory"]
    gib = 1024**3
    print(
        f"\nmemory in use by the containers: {memory['containers_total_bytes'] / gib:.2f} GiB "
        f"(largest {memory['container_max_bytes'] / 1024**2:.0f} MiB); host available "
        f"{memory['host_available_before_bytes'] / gib:.1f} -> "
        f"{memory['host_available_after_bytes'] / gib:.1f} GiB"
    )
    print(
        f"CPU the containers used until then: {memory['container_cpu_seconds_total']:.0f} s "
        f"in all, {memory['container_cpu_seconds_median']:.1f} s each (median)"
    )
    cpu = result["cpu_seconds_during_storm"]
    print(
        f"CPU during the storm ({m['cpus']} cores x {result['all_answered_seconds']:.1f} s): "
        + ", ".join(f"{part} {seconds:.1f} s" for part, seconds in cpu.items())
    )
    delete = result["delete"]
    print(
        f"delete: calls p50 {delete['calls']['p50_ms']:.0f} ms, p95 "
        f"{delete['calls']['p95_ms']:.0f} ms; engine empty after "
        f"{delete['engine_empty_seconds']:.1f} s, the hub's servers after "
        f"{delete['hub_forgot_seconds']:.1f} s, the portal's rows after "
        f"{delete['rows_gone_seconds']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10, help="owners (default 10)")
    parser.add_argument("--per-user", type=int, default=5, help="workspaces each (default 5)")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds a workspace may take (default 600)"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="copy the stack's logs next to the results"
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="create from a template with a warm pool of this many slots, filled before the "
        "storm (the lecture: --users 100 --per-user 1 --pool 100; default 0: no pool)",
    )
    args = parser.parse_args()
    stamp = args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.keep_logs:
        args.keep_logs = RESULTS / f"concurrent-{stamp}-logs"
    result = run(args)
    result = {
        "when": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "docker": docker.from_env().version()["Version"],
            "commit": git_commit(),
        },
        **result,
    }
    report(result)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"concurrent-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
