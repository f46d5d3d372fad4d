"""How much longer MLHub takes to give a user a running workspace than a bare `docker run`.

Run from the checkout: `.venv/bin/python -m bench.spawn [--runs 5]` (needs the Docker engine,
the image mlhub-workspace:latest and the Node proxy; see bench/README.md).

A. MLHub: the real stack in Docker mode (gunicorn portal, django-q2, JupyterHub, Node proxy).
   Timed from the portal's `POST /api/v1/workspaces/` (create = create and start) until a
   browser-like session, logged in to the portal only, gets a 200 from
   `/user/<u>/<ws>/api/status` through the proxy. On the way it opens `/user/<u>/<ws>/lab` as a
   person would, walking the hub's OAuth login and the single-user server's OAuth (the hub's
   "starting" page in between). Network and volume creation are part of it.
B. Baseline: `containers.run(detach=True)` of the same image running plain `jupyter server`
   (same extensions, no hub), with the same CPU and memory limits and tini as the workspace
   container, timed from the run call until `/api/status` answers 200 on a published port.

The machines are shared and noisy, so both are measured in one run, interleaved (the order
alternates each round), after one untimed warm-up of each; the medians and their ratio are
what to compare across machines, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests

from spawners.docker_spec import LABEL_ORIGIN, container_name
from tests.docker_engine import remove_everything_of
from tests.hub_stack import RunningHub, free_port, portal_login, running_stack

HUB = "mlhb"  # this benchmark's own hub name: labels, containers, networks and volumes
IMAGE = "mlhub-workspace:latest"
USER, PASSWORD = "bench", "bench-pass-1234"
POLL = 0.1  # seconds between polls, the same for A and B
RESULTS = Path(__file__).resolve().parent / "results"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(POLL)


def leftovers(client: docker.DockerClient) -> list[str]:
    """Names of this hub's containers, networks and volumes still on the engine."""
    origin = {"label": f"{LABEL_ORIGIN}={HUB}"}
    found = client.containers.list(all=True, filters=origin)
    found += client.networks.list(filters=origin) + client.volumes.list(filters=origin)
    return [item.name for item in found]


def mlhub_once(hub: RunningHub, client: docker.DockerClient, token: str, name: str) -> dict:
    """One timed create → first 200 of api/status through the proxy; then delete, untimed."""
    browser = portal_login(hub.url, USER, PASSWORD)  # already logged in, as a person would be
    base = f"{hub.url}/user/{USER}/{name}"

    def lab_reached() -> bool:  # the hub's pages answer 200 too: check where we landed
        response = browser.get(f"{base}/lab", timeout=60)
        return response.status_code == 200 and response.url.startswith(f"{base}/lab")

    started = time.perf_counter()
    created = hub.api(token).post(f"{hub.url}/api/v1/workspaces/", json={"name": name}, timeout=120)
    create_call = time.perf_counter() - started
    assert created.status_code == 201, created.text
    wait_until(lab_reached, 120, f"{base}/lab never answered")
    wait_until(
        lambda: browser.get(f"{base}/api/status", timeout=30).status_code == 200,
        60,
        f"{base}/api/status never answered 200",
    )
    total = time.perf_counter() - started

    limits = client.containers.get(container_name(HUB, USER, name)).attrs["HostConfig"]
    deleted = hub.api(token).delete(
        f"{hub.url}/api/v1/workspaces/{created.json()['id']}/", timeout=120
    )
    assert deleted.status_code == 204, deleted.text
    # The 204 comes once the hub has removed the container, the volume and (the last
    # workspace) the user's network. Anything left is recorded and removed here, so every
    # run starts from nothing.
    leaked = leftovers(client)
    if leaked:
        remove_everything_of(client, HUB)
    return {"seconds": total, "create_call": create_call, "host_config": limits, "leaked": leaked}


def baseline_once(client: docker.DockerClient, limits: dict) -> dict:
    """One timed `docker run` → first 200 of /api/status; then remove the container, untimed."""
    port = free_port()
    started = time.perf_counter()
    container = client.containers.run(
        IMAGE,
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

    def answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5).ok
        except requests.ConnectionError:
            return False

    try:
        wait_until(answers, 120, "the baseline container never answered")
        return {"seconds": time.perf_counter() - started}
    finally:
        container.remove(force=True, v=True)


def summary(seconds: list[float]) -> dict:
    return {
        "median": statistics.median(seconds),
        "min": min(seconds),
        "max": max(seconds),
        "runs": [round(s, 3) for s in seconds],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    runs = parser.parse_args().runs
    client = docker.from_env(timeout=60)
    client.images.get(IMAGE)  # ImageNotFound: build it first (make workspace-image)
    remove_everything_of(client, HUB)
    mlhub: list[dict] = []
    baseline: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-") as data:
        stack = running_stack(Path(data), "local", HUB)
        hub = next(stack)
        try:
            hub.user_create(USER, PASSWORD)
            token = hub.token_for(USER, PASSWORD)
            mlhub_warm = mlhub_once(hub, client, token, "warm")  # the untimed warm-ups
            limits = mlhub_warm["host_config"]  # B gets the workspace's CPU and memory limits
            baseline_once(client, limits)
            for i in range(runs):
                for which in "AB" if i % 2 == 0 else "BA":  # noise hits both alike
                    if which == "A":
                        mlhub.append(mlhub_once(hub, client, token, f"run{i}"))
                    else:
                        baseline.append(baseline_once(client, limits))
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
    leaks = [r["leaked"] for r in [mlhub_warm, *mlhub] if r["leaked"]]
    if leaks:
        print(f"the delete left objects behind in {len(leaks)} of {runs + 1} runs: {leaks}")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"spawn-{stamp}.json"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    result = {"when": stamp, "runs": runs, "image": IMAGE, "machine": machine, "mlhub": a}
    result |= {"mlhub_create_call": create, "docker_run": b, "ratio_of_medians": ratio}
    result["delete_left_behind"] = leaks
    result["limits"] = {key: limits[key] for key in ("NanoCpus", "Memory", "MemorySwap")}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
