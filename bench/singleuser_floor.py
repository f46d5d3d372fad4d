"""The floor of bench.spawn's ratio: the single-user server alone, with no MLHub at all.

Run from the checkout: `.venv/bin/python -m bench.singleuser_floor [--runs 9]` (needs the
Docker engine and the image mlhub-workspace:latest; nothing of MLHub runs).

bench.spawn compares MLHub's whole path with `docker run` of plain `jupyter server` (its B).
Whatever MLHub does, a workspace runs `jupyterhub-singleuser`, JupyterHub's own server, and
this measures what that costs by itself. Three containers of the same image, with the
workspace's default limits (1 CPU, 2 GiB) and tini, each timed from the run call until the
server answers HTTP on `api/status` (any answer from the server itself: the single-user
server refuses a request without credentials with 403, and it is serving then):

  server       `jupyter server`: bench.spawn's B.
  singleuser   `jupyterhub-singleuser`, as the spawner runs it, against a stub of the hub's API
               on this host (it answers the version check and activity reports, nothing else),
               so no hub, portal, proxy, network or volume of MLHub is on the path.
  server+hub_imports
               `jupyter server` after `import jupyterhub.singleuser.extension`: the single-user
               server's imports without the rest of it. Close to singleuser means the imports
               are the difference.

Rounds are interleaved (the order rotates) after one untimed warm-up of each. The ratio of
singleuser to server is the least bench.spawn's ratio can be with this baseline.

`--before IMAGE` adds a fourth, `singleuser@before`: the same single-user server from an
earlier build of the image (tag it before rebuilding: `docker tag mlhub-workspace:latest
mlhub-workspace:before`), so that a change to the image is measured side by side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any

import docker
import requests

from bench.common import docker_bench_start, git_commit
from bench.spawn import IMAGE, RESULTS, started_to_running, wait_for
from lib.labels import LABEL_ORIGIN
from tests.docker_engine import remove_everything_of
from tests.hub_stack import free_port

HUB = "mlfl"  # this benchmark's label: its containers, removed at the start and the end
USER = "floor"
PREFIX = f"/user/{USER}/"
LIMITS = {"nano_cpus": 10**9, "mem_limit": 2 * 1024**3}  # the default template's
# The hub's version, as the workspace image's (deploy/workspace/requirements.txt pins the same).
JUPYTERHUB_VERSION = version("jupyterhub")
SERVER_ARGS = ["--ServerApp.ip=0.0.0.0", "--ServerApp.port=8888", "--ServerApp.token="]
IMPORTS_FIRST = (
    "import sys, jupyterhub.singleuser.extension; "
    "from jupyter_server.serverapp import main; sys.exit(main())"
)
VARIANTS = ("server", "singleuser", "server+hub_imports")


class StubHub(BaseHTTPRequestHandler):
    """The two calls a starting single-user server makes: the version check and activity."""

    def do_GET(self) -> None:
        self._answer({"version": JUPYTERHUB_VERSION})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer({})

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", JUPYTERHUB_VERSION)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the figures are the output


def singleuser_env(hub_port: int) -> dict[str, str]:
    """What the hub's spawner passes, pointing at the stub (see Spawner.get_env)."""
    api = f"http://host.docker.internal:{hub_port}/hub/api"
    return {
        "JUPYTERHUB_API_TOKEN": "floor-bench-token",
        "JUPYTERHUB_API_URL": api,
        "JUPYTERHUB_ACTIVITY_URL": f"{api}/users/{USER}/activity",
        "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{USER}",
        "JUPYTERHUB_USER": USER,
        "JUPYTERHUB_SERVER_NAME": "",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{PREFIX}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
        "JUPYTERHUB_OAUTH_SCOPES": "[]",
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": "[]",
    }


def run_once(
    client: docker.DockerClient, variant: str, hub_port: int, before: str | None = None
) -> dict:
    """One timed run call → the server's first HTTP answer; then remove it, untimed."""
    port = free_port()
    singleuser = (["jupyterhub-singleuser"], singleuser_env(hub_port), PREFIX)
    command, environment, prefix = {
        "server": (["jupyter", "server", *SERVER_ARGS], {}, "/"),
        "singleuser": singleuser,
        "server+hub_imports": (["python3", "-c", IMPORTS_FIRST, *SERVER_ARGS], {}, "/"),
        "singleuser@before": singleuser,
    }[variant]
    started = time.perf_counter()
    container = client.containers.run(
        before if variant == "singleuser@before" else IMAGE,
        command,
        environment=environment,
        detach=True,
        init=True,
        ports={"8888/tcp": ("127.0.0.1", port)},
        extra_hosts={"host.docker.internal": "host-gateway"},
        labels={LABEL_ORIGIN: HUB},
        **LIMITS,
    )

    def answers() -> bool:
        try:  # the server's own answer; 403 is the single-user server without credentials
            url = f"http://127.0.0.1:{port}{prefix}api/status"
            return requests.get(url, timeout=5, allow_redirects=False).status_code < 500
        except requests.ConnectionError:
            return False

    try:
        wait_for(answers, 120, f"{variant} never answered")
        seconds = time.perf_counter() - started
        container.reload()  # StartedAt
        return {"seconds": seconds, "in_container": started_to_running(container)}
    except TimeoutError:
        print(container.logs(tail=30).decode(errors="replace"))
        raise
    finally:
        container.remove(force=True, v=True)


def median_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", metavar="IMAGE", help="an earlier build, side by side")
    arguments, client = docker_bench_start("", 9, IMAGE, HUB, parser)
    runs, before = arguments.runs, arguments.before
    variants = VARIANTS + ("singleuser@before",) if before else VARIANTS
    if before:
        client.images.get(before)
    stub = ThreadingHTTPServer(("0.0.0.0", 0), StubHub)  # containers reach it via the gateway
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    hub_port = stub.server_address[1]
    results: dict[str, list[dict]] = {variant: [] for variant in variants}
    orders = itertools.cycle([variants[i:] + variants[:i] for i in range(len(variants))])
    try:
        for variant in variants:
            run_once(client, variant, hub_port, before)  # the untimed warm-ups
        for i in range(runs):
            for variant in next(orders):  # noise hits all alike
                results[variant].append(run_once(client, variant, hub_port, before))
            line = ", ".join(f"{v} {results[v][-1]['seconds']:.2f} s" for v in variants)
            print(f"run {i + 1}/{runs}: {line}", flush=True)
    finally:
        stub.shutdown()
        remove_everything_of(client, HUB)

    base = median_of(results["server"], "seconds")
    base_inside = median_of(results["server"], "in_container")
    print(
        f"\n{'(medians of ' + str(runs) + ' runs, seconds)':28}{'run → answer':>14}"
        f"{'ratio':>8}{'in container':>14}{'ratio':>8}"
    )
    figures: dict[str, dict] = {}
    for variant in variants:
        whole = median_of(results[variant], "seconds")
        inside = median_of(results[variant], "in_container")
        ratio = whole / base
        ratio_inside = inside / base_inside if inside and base_inside else None
        figures[variant] = {
            "median": whole,
            "ratio": ratio,
            "in_container": inside,
            "in_container_ratio": ratio_inside,
            "runs": [round(r["seconds"], 3) for r in results[variant]],
        }
        inside_cells = (
            f"{inside:14.2f}{ratio_inside:8.2f}" if ratio_inside else f"{'n/a':>14}{'':8}"
        )
        print(f"{variant:28}{whole:14.2f}{ratio:8.2f}{inside_cells}")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"singleuser-floor-{stamp}.json"
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    result = {
        "when": stamp,
        "commit": git_commit(),
        "runs": runs,
        "image": IMAGE,
        "before": before,
        "machine": machine,
        "limits": LIMITS,
        "variants": figures,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
