"""How much longer MLHub takes to give a user a running workspace than a bare `docker run`.

Run from the checkout: `.venv/bin/python -m bench.spawn [--runs 5] [--image IMAGE] [--tools
vscode tensorboard]` (needs the Docker engine, the image, by default mlhub-workspace:latest,
and the Node proxy; see bench/README.md). `--tools`: after each run of A, the first request to
each of those jupyter-server-proxy tools, which starts it (tools start on first use), is timed
too: what opening the tool adds.

A. MLHub: the real stack in Docker mode (gunicorn portal, django-q2, JupyterHub, Node proxy).
   Timed from the portal's `POST /api/v1/workspaces/` (create = create and start) until a
   browser-like session, logged in to the portal only, gets a 200 from the workspace's
   `api/status` through the proxy. On the way it opens `/user/<u>/<ws>/lab` as a person would,
   walking the hub's OAuth login against the portal, the hub's "starting" page, and the
   single-user server's OAuth on the workspace's own origin. Network and volume creation are
   part of it.
B. Baseline: `containers.run(detach=True)` of the same image running plain `jupyter server`
   (same extensions, no hub), with the same CPU and memory limits and tini as the workspace
   container, timed from the run call until `/api/status` answers 200 on a published port.

The machines are shared and noisy, so both are measured in one run, interleaved (the order
alternates each round), after one untimed warm-up of each; the medians and their ratio are
what to compare across machines, not the absolute seconds.

Each run of A is also cut into phases (where the time goes) from the session's own requests
and the hub's log lines with their millisecond timestamps; see PHASES.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import docker
import requests

from bench.common import docker_bench_start, leftovers
from lib import env, origins
from lib.labels import LABEL_ORIGIN, container_name
from lib.polling import poll_until
from tests.docker_engine import remove_everything_of
from tests.hub_stack import RunningHub, free_port, portal_login, running_stack

T = TypeVar("T")

HUB = "mlhb"  # this benchmark's own hub name: labels, containers, networks and volumes
IMAGE = "mlhub-workspace:latest"
USER, PASSWORD = "bench", "bench-pass-1234"
POLL = 0.1  # seconds between polls, the same for A and B
RESULTS = Path(__file__).resolve().parent / "results"
DELETE_PATIENCE = 30  # seconds: the delete's 204 comes first, the removal a few seconds later

# A's phases, in order: each ends where the next begins, so together they are A's time.
PHASES = (
    ("until_spawner", "portal + hub, until the spawner starts"),
    ("network", "the user's network"),
    ("volume", "the workspace's volume"),
    ("container", "container create + start (Docker API)"),
    ("listening", "server start-up until it listens"),
    ("hub_check", "the hub's HTTP check"),
    ("route", "the proxy route"),
    ("noticed", "until the browser is sent to the server"),
    ("server_oauth", "the single-user server's OAuth"),
    ("lab", "the /lab page"),
    ("status", "api/status"),
)
# Not on the path above: it runs while the container starts.
PARALLEL = (("hub_oauth", "the hub's OAuth against the portal (alongside)"),)
B_PHASES = (
    ("run_call", "docker run call (create + start)"),
    ("serving", "server start-up until api/status answers"),
)
# Both: from the container's start to the server's "is running at" line (its own start-up).
IN_CONTAINER = ("in_container", "in the container: started -> 'is running at'")

HUB_LINE = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) JupyterHub \S+\] (.*)$")


def wait_for(check: Callable[[], T], timeout: float, what: str) -> T:
    """The one polling helper, at a fixed interval: A and B are polled alike."""
    return poll_until(check, timeout=timeout, what=what, first_wait=POLL, scale=1, max_wait=POLL)


def hub_lines(log: Path, offset: int) -> list[tuple[float, str]]:
    """The hub's log lines after byte ``offset``, as (epoch seconds, message)."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read()
    lines = []
    for line in text.decode(errors="replace").splitlines():
        match = HUB_LINE.match(line)
        if match:  # the hub logs local time, as time.time() reads it here
            at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S.%f").timestamp()
            lines.append((at, match[2]))
    return lines


def started_to_running(container: Any) -> float | None:
    """Seconds from the container's start to its server's "is running at" log line."""
    started = _docker_time(container.attrs["State"]["StartedAt"])
    for line in container.logs(timestamps=True).decode(errors="replace").splitlines():
        stamp, _, message = line.partition(" ")
        if "is running at" in message:
            return _docker_time(stamp) - started
    return None


def _docker_time(stamp: str) -> float:
    # RFC 3339 with nanoseconds and a Z; fromisoformat takes microseconds at most.
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00").timestamp()


def lab_then_status(browser: requests.Session, hub_url: str, user: str, name: str, url: str):
    """As a person: the workspace's lab through the hub (its OAuth, its pending page, the
    server's OAuth on the workspace's origin ``url``), then its ``api/status``, each until it
    answers 200."""

    def lab_reached() -> bool:  # the hub's pages answer too: check where we landed
        response = browser.get(f"{hub_url}/user/{user}/{name}/lab", timeout=60)
        return response.status_code == 200 and response.url.startswith(f"{url}lab")

    wait_for(lab_reached, 120, f"{url}lab never answered")
    wait_for(
        lambda: browser.get(f"{url}api/status", timeout=30).status_code == 200,
        60,
        f"{url}api/status never answered 200",
    )


def mlhub_once(
    hub: RunningHub,
    client: docker.DockerClient,
    token: str,
    name: str,
    log: Path,
    image: str = IMAGE,
    tools: tuple[str, ...] = (),
) -> dict:
    """One timed create → first 200 of api/status through the proxy; then each of ``tools``'
    first request, timed apart; then delete, untimed."""
    browser = portal_login(hub.url, USER, PASSWORD)  # already logged in, as a person would be
    hops: list[tuple[float, float, requests.Response]] = []  # (sent, received, response)

    def record(response: requests.Response, *args, **kwargs) -> None:
        received = time.time()
        hops.append((received - response.elapsed.total_seconds(), received, response))

    browser.hooks["response"].append(record)
    url = origins.workspace_url(hub.url, USER, name, single_origin=env.single_origin())

    log_offset = log.stat().st_size
    began = time.time()
    started = time.perf_counter()
    created = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": name, "image": image}, timeout=120
    )
    create_call = time.perf_counter() - started
    assert created.status_code == 201, created.text
    lab_then_status(browser, hub.url, USER, name, url)
    total = time.perf_counter() - started
    ended = time.time()
    tool_seconds = {}
    for tool in tools:  # not part of A's time: the tool starts when first asked for
        asked = time.perf_counter()
        opened = browser.get(f"{url}{tool}/", timeout=120)
        assert opened.status_code == 200, f"{tool}: {opened.status_code} {opened.text[:300]}"
        tool_seconds[tool] = time.perf_counter() - asked

    container = client.containers.get(container_name(HUB, USER, name))
    in_container = started_to_running(container)
    lines = hub_lines(log, log_offset)
    phases = mlhub_phases(name, began, ended, lines, hops, url)
    deleted = hub.api(token).delete(
        f"{hub.url}/api/v1/workspaces/{created.json()['id']}/", timeout=120
    )
    assert deleted.status_code == 204, deleted.text
    # The 204 comes at once; the hub's spawner removes the container, the volume and (the
    # last workspace) the user's network in the background. Whatever is still there after
    # DELETE_PATIENCE is recorded and removed here, so every run starts from nothing.
    try:
        wait_for(lambda: not leftovers(client, HUB), DELETE_PATIENCE, "objects left behind")
        leaked: list[str] = []
    except TimeoutError:
        leaked = leftovers(client, HUB)
        remove_everything_of(client, HUB)
    return {
        "seconds": total,
        "create_call": create_call,
        "phases": phases,
        "in_container": in_container,
        "host_config": container.attrs["HostConfig"],
        "leaked": leaked,
        "tools": tool_seconds,
    }


def mlhub_phases(
    name: str,
    began: float,
    ended: float,
    lines: list[tuple[float, str]],
    hops: list[tuple[float, float, requests.Response]],
    url: str,
) -> dict[str, float] | None:
    """A's time cut into PHASES (seconds each, plus PARALLEL), or None when a mark is missing.

    The marks are epoch seconds: the session's requests (sent, received) and the hub's log
    lines, whose durations (network, volume, start, listening) place the marks between them.
    """
    server = re.escape(f"{USER}:{name}")
    patterns = {
        "spawner": rf"{server} network ready in ([\d.]+) s, volume in ([\d.]+) s$",
        "listening": rf"{server} started in ([\d.]+) s, listening ([\d.]+) s later$",
        "up": rf"User {server} took [\d.]+ seconds to start$",
        "ready": rf"Server {server} is ready$",
    }
    found: dict[str, tuple[float, re.Match]] = {}
    for at, message in lines:
        for mark, pattern in patterns.items():
            match = re.match(pattern, message)
            if match and mark not in found:
                found[mark] = (at, match)

    def first(test: Callable[[requests.Response], bool], sent: bool = False) -> float | None:
        return next((hop[0 if sent else 1] for hop in hops if test(hop[2])), None)

    # The hub sends the browser to the server once it is ready; the server's OAuth ends in
    # its oauth_callback, which sends the browser on to /lab.
    to_server = first(lambda r: urljoin(r.url, r.headers.get("Location", "")).startswith(url))
    callback = first(lambda r: r.url.startswith(f"{url}oauth_callback"))
    lab = first(lambda r: r.status_code == 200 and r.url.startswith(f"{url}lab"))
    if len(found) < len(patterns) or None in (to_server, callback, lab):
        return None
    spawner_at, spawner = found["spawner"]
    network, volume = float(spawner[1]), float(spawner[2])
    listening_at, listening = found["listening"]
    marks = [
        began,
        spawner_at - network - volume,
        spawner_at - volume,
        spawner_at,
        listening_at - float(listening[2]),
        listening_at,
        found["up"][0],
        found["ready"][0],
        to_server,
        callback,
        lab,
        ended,
    ]
    pairs = zip(PHASES, pairwise(marks), strict=True)
    phases = {key: end - start for (key, _), (start, end) in pairs}
    hub_login = first(lambda r: "/hub/login" in r.url, sent=True)
    hub_callback = first(lambda r: "/hub/oauth_callback" in r.url)
    if hub_login is not None and hub_callback is not None:
        phases["hub_oauth"] = hub_callback - hub_login
    return phases


def baseline_once(client: docker.DockerClient, limits: dict, image: str = IMAGE) -> dict:
    """One timed `docker run` → first 200 of /api/status; then remove the container, untimed."""
    port = free_port()
    started = time.perf_counter()
    container = client.containers.run(
        image,
        ["jupyter", "server", "--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888"]
        + ["--ServerApp.token=", "--ServerApp.allow_origin=*"],
        detach=True,
        init=True,  # as the spawner's containers
        nano_cpus=limits["NanoCpus"] or None,
        mem_limit=limits["Memory"] or None,
        memswap_limit=limits["MemorySwap"] or None,
        ports={"8888/tcp": ("127.0.0.1", port)},
        labels={LABEL_ORIGIN: HUB, "mlhub.bench": "baseline"},
    )
    run_call = time.perf_counter() - started

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(answers, 120, "the baseline container never answered")
        total = time.perf_counter() - started
        container.reload()  # StartedAt
        phases = {"run_call": run_call, "serving": total - run_call}
        return {"seconds": total, "phases": phases, "in_container": started_to_running(container)}
    finally:
        container.remove(force=True, v=True)


def summary(seconds: list[float]) -> dict:
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "runs": [round(s, 3) for s in seconds],
    }


def phase_medians(runs: list[dict], keys: list[str]) -> dict[str, float | None]:
    """The median of each phase over the runs that have it (None: no run has it)."""
    medians: dict[str, float | None] = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        medians[key] = statistics.median(values) if values else None
    return medians


def print_phases(mlhub: list[dict], baseline: list[dict]) -> dict:
    """Print the median of each phase of A and of B; return them for the JSON."""
    a_runs = [r["phases"] | {"in_container": r["in_container"]} for r in mlhub if r["phases"]]
    b_runs = [r["phases"] | {"in_container": r["in_container"]} for r in baseline]
    a_keys = [key for key, _ in (*PHASES, *PARALLEL, IN_CONTAINER)]
    b_keys = [key for key, _ in (*B_PHASES, IN_CONTAINER)]
    a, b = phase_medians(a_runs, a_keys), phase_medians(b_runs, b_keys)
    cell = lambda value: f"{value:8.3f}" if value is not None else f"{'n/a':>8}"  # noqa: E731
    print(f"\nwhere the time goes (median of each phase, seconds; A: {len(a_runs)} runs)")
    for key, label in PHASES:
        print(f"  A  {label:48}{cell(a[key])}")
    path = sum(a[key] or 0 for key, _ in PHASES)
    print(f"  A  {'sum of the medians above':48}{path:8.3f}")
    for key, label in PARALLEL:
        print(f"  A  {label:48}{cell(a[key])}")
    for key, label in B_PHASES:
        print(f"  B  {label:48}{cell(b[key])}")
    label = IN_CONTAINER[1]
    print(f"  A  {label:48}{cell(a['in_container'])}")
    print(f"  B  {label:48}{cell(b['in_container'])}")
    if len(a_runs) < len(mlhub):
        print(f"  ({len(mlhub) - len(a_runs)} runs of A lacked a mark in the hub's log)")
    return {"mlhub": a, "docker_run": b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default=IMAGE, help=f"the workspace image (default {IMAGE})")
    parser.add_argument(
        "--tools", nargs="*", default=[], help="jupyter-server-proxy tools to open after each A"
    )
    image = parser.parse_known_args()[0].image
    arguments, client = docker_bench_start(parser.description, 5, image, HUB, parser)
    runs, tools = arguments.runs, tuple(arguments.tools)
    mlhub: list[dict] = []
    baseline: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-") as data:
        stack = running_stack(Path(data), "local", HUB, {"MLHUB_WORKSPACE_IMAGES": image})
        hub = next(stack)
        log = Path(data) / "logs" / "hub.log"
        try:
            hub.user_create(USER, PASSWORD)
            token = hub.token_for(USER, PASSWORD)
            # The untimed warm-ups.
            mlhub_warm = mlhub_once(hub, client, token, "warm", log, image, tools)
            limits = mlhub_warm["host_config"]  # B gets the workspace's CPU and memory limits
            baseline_once(client, limits, image)
            for i in range(runs):
                for which in "AB" if i % 2 == 0 else "BA":  # noise hits both alike
                    if which == "A":
                        mlhub.append(mlhub_once(hub, client, token, f"run{i}", log, image, tools))
                    else:
                        baseline.append(baseline_once(client, limits, image))
                print(
                    f"run {i + 1}/{runs}: MLHub {mlhub[-1]['seconds']:.2f} s, "
                    f"docker run {baseline[-1]['seconds']:.2f} s",
                    flush=True,
                )
        except BaseException:
            print(hub.logs(30))
            raise
        finally:
            stack.close()
            remove_everything_of(client, HUB)

    a = summary([r["seconds"] for r in mlhub])
    b = summary([r["seconds"] for r in baseline])
    create = summary([r["create_call"] for r in mlhub])
    ratio = a["median"] / b["median"]
    print(f"\n{'':34}{'median':>8}{'min':>8}{'max':>8}   ({runs} runs, seconds)")
    for label, row in (
        ("A  MLHub create -> api/status", a),
        ("   of which the create call", create),
        ("B  docker run -> api/status", b),
    ):
        print(f"{label:34}{row['median']:8.2f}{row['min']:8.2f}{row['max']:8.2f}")
    print(f"ratio A/B of the medians: {ratio:.2f}")
    opened = {tool: summary([r["tools"][tool] for r in mlhub]) for tool in tools}
    for tool, row in opened.items():
        label = f"   {tool}: first request (starts it)"
        print(f"{label:34}{row['median']:8.2f}{row['min']:8.2f}{row['max']:8.2f}")
    phases = print_phases(mlhub, baseline)
    leaks = [r["leaked"] for r in [mlhub_warm, *mlhub] if r["leaked"]]
    if leaks:
        print(f"the delete left objects behind in {len(leaks)} of {runs + 1} runs: {leaks}")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"spawn-{stamp}.json"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    result = {"when": stamp, "runs": runs, "image": image, "machine": machine, "mlhub": a}
    result["tools_first_request"] = opened
    result |= {"mlhub_create_call": create, "docker_run": b, "ratio_of_medians": ratio}
    result["phase_medians"] = phases
    result["phases"] = {
        "mlhub": [r["phases"] | {"in_container": r["in_container"]} for r in mlhub],
        "docker_run": [r["phases"] | {"in_container": r["in_container"]} for r in baseline],
    }
    result["delete_left_behind"] = leaks
    result["limits"] = {key: limits[key] for key in ("NanoCpus", "Memory", "MemorySwap")}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
