"""A new workspace from a warm pool against a cold one and a bare `docker run` (issue 26).

Run from the checkout: `.venv/bin/python -m bench.spawn_warm [--runs 7]` (needs the Docker
engine, the image mlhub-workspace:latest and the Node proxy; see bench/README.md).

W. Warm: the real stack in Docker mode, a template `warm` with a pool of one slot. Timed
   from the portal's `POST /api/v1/workspaces/` until a browser-like session, logged in to
   the portal only, gets a 200 from the workspace's `api/status` through the proxy, walking
   the hub's and the server's OAuth on the way (bench/spawn.py's path A, to the letter).
   Before each run the pool is ready again and the fill has made the person's network
   ahead (untimed): a person in a lecture finds them so.
C. Cold: the same, with a template of the same image and no pool.
B. Baseline: `docker run` of the same image running plain `jupyter server` with the same
   limits (bench/spawn.py's B).

The three are measured in one run, interleaved (the order rotates each round) after an
untimed warm-up of each; the medians and the ratios W/B and C/B are the figures.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import docker

from bench.common import docker_bench_start, leftovers, result_write
from bench.spawn import baseline_once, lab_then_status, summary, wait_for
from lib import env, origins
from lib.labels import container_name, network_name
from tests.docker_engine import remove_everything_of
from tests.hub_stack import RunningHub, portal_login, running_stack

HUB = "mlhw"  # this benchmark's own hub name
IMAGE = "mlhub-workspace:latest"
USER, PASSWORD = "bench", "bench-pass-1234"
POOL, COLD = "warm", "cold"  # two templates of the same image, with a pool and without


def pool_ready(hub: RunningHub) -> bool:
    pools = hub.api().get(f"{hub.url}/api/v1/pools/", timeout=30).json()["pools"]
    return any(p["template"] == POOL and p["ready"] >= 1 for p in pools)


def network_made_ahead(client: docker.DockerClient) -> bool:
    """The person's network, which the pool's fill makes ahead (portal/pools/networks.py)
    and a delete of their last workspace removes."""
    return bool(client.networks.list(names=[network_name(HUB, USER)]))


def templates_make(hub: RunningHub, **fields) -> None:
    """The two templates, ``POOL`` with a pool of one slot and ``COLD`` with none, of
    ``fields`` alike (their image, CPU, memory)."""
    for name, size in ((POOL, 1), (COLD, 0)):
        template = {"name": name, "pool_size": size, **fields}
        made = hub.api().post(f"{hub.url}/api/v1/templates/", json=template, timeout=30)
        assert made.status_code == 201, made.text


def timed_create(hub: RunningHub, token: str, name: str, **body) -> tuple[float, str]:
    """Seconds from the create call to the first 200 of api/status through the proxy, and
    the workspace's API address (for its delete)."""
    browser = portal_login(hub.url, USER, PASSWORD)
    url = origins.workspace_url(hub.url, USER, name, single_origin=env.single_origin())
    started = time.perf_counter()
    created = hub.api(token).post(
        f"{hub.url}/api/v1/workspaces/", json={"name": name, **body}, timeout=120
    )
    assert created.status_code == 201, created.text
    lab_then_status(browser, hub.url, USER, name, url)
    return time.perf_counter() - started, f"{hub.url}/api/v1/workspaces/{created.json()['id']}/"


def delete(hub: RunningHub, token: str, address: str) -> None:
    deleted = hub.api(token).delete(address, timeout=120)
    assert deleted.status_code == 204, deleted.text


def create_once(hub: RunningHub, client: docker.DockerClient, token: str, name: str, **body):
    """One timed create → first 200 of api/status through the proxy; then delete, untimed."""
    seconds, address = timed_create(hub, token, name, **body)
    container = client.containers.get(container_name(HUB, USER, name))
    warm = "mlhub.pool" in container.labels
    delete(hub, token, address)
    wait_for(lambda: not _workspace_left(client, name), 60, "the workspace's objects left")
    return {"seconds": seconds, "warm": warm, "host_config": container.attrs["HostConfig"]}


def _workspace_left(client: docker.DockerClient, name: str) -> bool:
    return any(item.startswith(container_name(HUB, USER, name)) for item in leftovers(client, HUB))


CLAIMED = re.compile(r"bench:w\d+: claimed pool slot \S+ in ([\d.]+) s \((.*)\)$")
LISTENING = re.compile(r"bench:w\d+ started in [\d.]+ s, listening ([\d.]+) s later$")
TOOK = re.compile(r"User bench:w\d+ took ([\d.]+) seconds to start$")


def where_warm_time_goes(log: Path) -> dict[str, float]:
    """Medians over the timed warm runs, from the hub's log: the claim and its steps, the
    server's start after it, and the whole spawn as the hub counts it."""
    found: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if match := CLAIMED.search(line):
            found.setdefault("claim", []).append(float(match[1]))
            for name, seconds in re.findall(r"([a-z ]+) ([\d.]+) s", match[2]):
                found.setdefault(f"claim: {name.strip()}", []).append(float(seconds))
        elif match := LISTENING.search(line):
            found.setdefault("server start after the claim", []).append(float(match[1]))
        elif match := TOOK.search(line):
            found.setdefault("the hub's spawn, in all", []).append(float(match[1]))
    return {name: statistics.median(values) for name, values in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default=IMAGE, help=f"the workspace image (default {IMAGE})")
    arguments, client = docker_bench_start(parser.description, 7, IMAGE, HUB, parser)
    image = arguments.image
    runs: dict[str, list[float]] = {"W": [], "C": [], "B": []}
    not_warm = 0
    with tempfile.TemporaryDirectory(prefix="mlhub-bench-") as data:
        stack = running_stack(Path(data), "local", HUB, {"MLHUB_WORKSPACE_IMAGES": image})
        hub = next(stack)
        try:
            hub.user_create(USER, PASSWORD)
            token = hub.token_for(USER, PASSWORD)
            templates_make(hub, image=image)
            wait_for(lambda: pool_ready(hub), 180, "the pool never became ready")
            limits = create_once(hub, client, token, "coldup", template=COLD)["host_config"]
            wait_for(lambda: pool_ready(hub), 180, "the pool never became ready")
            create_once(hub, client, token, "warmup", template=POOL)
            baseline_once(client, limits)
            for i in range(arguments.runs):
                order = "WCB"[i % 3 :] + "WCB"[: i % 3]
                for which in order:
                    if which == "W":
                        # As a person in a lecture finds them: a slot and their network.
                        wait_for(
                            lambda: pool_ready(hub) and network_made_ahead(client),
                            300,
                            "the pool never refilled",
                        )
                        result = create_once(hub, client, token, f"w{i}", template=POOL)
                        not_warm += not result["warm"]
                    elif which == "C":
                        result = create_once(hub, client, token, f"c{i}", template=COLD)
                    else:
                        result = baseline_once(client, limits)
                    runs[which].append(result["seconds"])
                print(
                    f"run {i + 1}/{arguments.runs}: warm {runs['W'][-1]:.2f} s, cold "
                    f"{runs['C'][-1]:.2f} s, docker run {runs['B'][-1]:.2f} s",
                    flush=True,
                )
            where = where_warm_time_goes(Path(data) / "logs" / "hub.log")
        except BaseException:
            print(hub.logs(30))
            raise
        finally:
            stack.close()
            remove_everything_of(client, HUB)

    rows = {key: summary(values) for key, values in runs.items()}
    print(f"\n{'':34}{'median':>8}{'min':>8}{'max':>8}   ({arguments.runs} runs, seconds)")
    for key, label in (
        ("W", "W  warm create -> api/status"),
        ("C", "C  cold create -> api/status"),
        ("B", "B  docker run -> api/status"),
    ):
        row = rows[key]
        print(f"{label:34}{row['median']:8.2f}{row['min']:8.2f}{row['max']:8.2f}")
    warm_ratio = rows["W"]["median"] / rows["B"]["median"]
    cold_ratio = rows["C"]["median"] / rows["B"]["median"]
    print(f"ratio W/B of the medians: {warm_ratio:.2f}; C/B: {cold_ratio:.2f}")
    where_print(where, not_warm)
    result_write(
        "spawn-warm",
        {
            "runs": arguments.runs,
            "image": image,
            "warm": rows["W"],
            "cold": rows["C"],
            "docker_run": rows["B"],
            "warm_over_docker_run": warm_ratio,
            "cold_over_docker_run": cold_ratio,
            "warm_runs_not_warm": not_warm,
            "warm_phases": where,
        },
    )


def where_print(where: dict[str, float], not_warm: int) -> None:
    print("\nwhere a warm start goes (medians, seconds, from the hub's log)")
    for name, seconds in where.items():
        print(f"  {name:40}{seconds:8.3f}")
    if not_warm:
        print(f"{not_warm} warm runs did not get a slot (they started cold)")


if __name__ == "__main__":
    main()
