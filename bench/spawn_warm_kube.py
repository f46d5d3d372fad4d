"""A new workspace from a warm pool against a cold one, on the Kubernetes test cluster (issue 26).

Run from the checkout, as root: `.venv/bin/python -m bench.spawn_warm_kube [--runs 5]` (needs
the test cluster, `bash deploy/scripts/kube-test-cluster.sh up`, the image
mlhub-workspace:latest in Docker and the Node proxy; see bench/README.md).

The real stack in Kubernetes mode on the host spawns into a namespace of its own, as the
cluster tests' (tests/k8s/cluster.py ``kube_stack``). Both are timed as bench.spawn_warm
times them: from the portal's `POST /api/v1/workspaces/` until a browser-like session gets
a 200 from the workspace's `api/status` through the proxy.
W. Warm: a template with a pool of one slot, ready again before each run (untimed).
C. Cold: a template of the same image and resources, without a pool.
Interleaved (the order alternates each round) after an untimed warm-up of each; the medians
and W/C are the figures, with where a warm start goes from the hub's log.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
from functools import partial
from pathlib import Path

from bench.common import result_write
from bench.spawn import summary, wait_for
from bench.spawn_warm import (
    COLD,
    PASSWORD,
    POOL,
    USER,
    delete,
    pool_ready,
    templates_make,
    timed_create,
    where_print,
    where_warm_time_goes,
)
from lib.labels import LABEL_SERVER_NAME
from tests.hub_stack import RunningHub
from tests.k8s.cluster import Kube, admin_kubeconfig, cluster_status, kube_stack

HUB = "mlhw"  # the same name as bench.spawn_warm's: where_warm_time_goes reads its lines
IMAGE = "mlhub-workspace:latest"
TEMPLATE = {"image": IMAGE, "cpu_default": 0.5, "memory_default": "512M"}


def create_once(hub: RunningHub, kube: Kube, namespace: str, token: str, name: str, **body):
    """One timed create → first 200 of api/status through the proxy; then delete, untimed."""
    seconds, address = timed_create(hub, token, name, **body)
    pods = kube.kubectl(
        "get", "pods", "-n", namespace, "-l", f"{LABEL_SERVER_NAME}={name}", "-o", "json"
    )
    (pod,) = json.loads(pods.stdout)["items"]
    warm = "--pool-" in pod["metadata"]["name"]  # a claimed slot's pod keeps its name
    delete(hub, token, address)
    return {"seconds": seconds, "warm": warm}


def timed_runs(hub, kube, namespace: str, token: str, count: int, runs: dict) -> int:
    """Warm-ups, then ``count`` rounds of W and C into ``runs``; how many W got no slot."""
    once = partial(create_once, hub, kube, namespace, token)
    wait_for(lambda: pool_ready(hub), 300, "the pool never became ready")
    once("coldup", template=COLD)
    wait_for(lambda: pool_ready(hub), 300, "the pool never became ready")
    once("warmup", template=POOL)
    not_warm = 0
    for i in range(count):
        for which in "WC" if i % 2 == 0 else "CW":
            if which == "W":
                wait_for(lambda: pool_ready(hub), 300, "the pool never refilled")
                result = once(f"w{i}", template=POOL)
                not_warm += not result["warm"]
            else:
                result = once(f"c{i}", template=COLD)
            runs[which].append(result["seconds"])
        print(
            f"run {i + 1}/{count}: warm {runs['W'][-1]:.2f} s, cold {runs['C'][-1]:.2f} s",
            flush=True,
        )
    return not_warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    arguments = parser.parse_args()
    up, detail = cluster_status()
    if not up:
        raise SystemExit(f"no test cluster answers ({detail}); run kube-test-cluster.sh up")
    kube = Kube(kubeconfig=admin_kubeconfig())
    kube.import_image(IMAGE)
    namespace = f"mlb-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", namespace)
    runs: dict[str, list[float]] = {"W": [], "C": []}
    try:
        with tempfile.TemporaryDirectory(prefix="mlhub-bench-") as data:
            stack = kube_stack(Path(data), kube, namespace, HUB, [IMAGE], {})
            hub = next(stack)
            try:
                hub.user_create(USER, PASSWORD)
                token = hub.token_for(USER, PASSWORD)
                templates_make(hub, **TEMPLATE)
                not_warm = timed_runs(hub, kube, namespace, token, arguments.runs, runs)
                where = where_warm_time_goes(Path(data) / "logs" / "hub.log")
            except BaseException:
                print(hub.logs(30))
                raise
            finally:
                stack.close()
    finally:
        kube.kubectl("delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force")
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    rows = {key: summary(values) for key, values in runs.items()}
    print(f"\n{'':34}{'median':>8}{'min':>8}{'max':>8}   ({arguments.runs} runs, seconds)")
    for key, label in (
        ("W", "W  warm create -> api/status"),
        ("C", "C  cold create -> api/status"),
    ):
        row = rows[key]
        print(f"{label:34}{row['median']:8.2f}{row['min']:8.2f}{row['max']:8.2f}")
    ratio = rows["W"]["median"] / rows["C"]["median"]
    print(f"ratio W/C of the medians: {ratio:.2f}")
    where_print(where, not_warm)
    result_write(
        "spawn-warm-kube",
        {
            "runs": arguments.runs,
            "image": IMAGE,
            "warm": rows["W"],
            "cold": rows["C"],
            "warm_over_cold": ratio,
            "warm_runs_not_warm": not_warm,
            "warm_phases": where,
        },
    )


if __name__ == "__main__":
    main()
