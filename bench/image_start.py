"""How long the MLHub image takes to answer: a first start on an empty /data, and a stop and
start of the same container (an upgrade, a host's reboot), for two images side by side.

Run from the checkout: `.venv/bin/python -m bench.image_start --baseline mlhub:before
[--candidate mlhub:latest] [--runs 5]` (needs the Docker engine and both images: build the
baseline from an earlier commit with `IMAGE=mlhub:before bash deploy/scripts/build-image.sh
hub` in its checkout; see bench/README.md).

Each run starts the image as docs/deploy.md says (tests/deploy/mlhub_image.py: a network of
its own, the engine's socket, a named /data volume, a generated certificate) and times until
the hub's API and the portal's login page both answer through nginx; then `docker stop`
(timed: what an upgrade's or a reboot's outage begins with), `docker start` and the same
wait. The images alternate, the first of each round rotating, after an untimed warm-up of
each; the medians and the candidate's ratio to the baseline are the figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

import docker

from bench.common import result_write
from tests.deploy.mlhub_image import IMAGE, image_environment, image_run, image_waited_on
from tests.hub_stack import free_port, resolve_localhost_subdomains

HUB = "mlbi"  # this benchmark's own hub name
PHASES = ("first start", "stop", "start again")


def start_and_restart(client: docker.DockerClient, image: str) -> dict[str, float]:
    """Seconds from `docker run` until it answers, of `docker stop`, and from `docker start`
    until it answers again."""
    port = free_port()
    environment = image_environment(HUB, port)
    with image_run(client, HUB, environment, port, data=True, image=image) as (container, _):
        hub = image_waited_on(container, port)
        started = time.monotonic()  # the run itself returned at once (detached)
        hub.wait_until_up()
        first = time.monotonic() - started
        started = time.monotonic()
        container.stop(timeout=30)
        stop = time.monotonic() - started
        started = time.monotonic()
        container.start()
        hub.wait_until_up()
        return {"first start": first, "stop": stop, "start again": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the image to compare against")
    parser.add_argument("--candidate", default=IMAGE, help=f"default {IMAGE}")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args()
    client = docker.from_env(timeout=60)
    images = [args.baseline, args.candidate]
    for image in images:
        client.images.get(image)  # ImageNotFound: build it first
    resolve_localhost_subdomains()
    for image in images:
        start_and_restart(client, image)  # warm-up: the engine's caches, the page cache
    runs: dict[str, list[dict[str, float]]] = {image: [] for image in images}
    for round_ in range(args.runs):
        order = images[round_ % 2 :] + images[: round_ % 2]
        for image in order:
            runs[image].append(start_and_restart(client, image))
            seconds = runs[image][-1]
            said = ", ".join(f"{phase} {seconds[phase]:.1f} s" for phase in PHASES)
            print(f"run {round_ + 1} {image}: {said}", flush=True)
    figures: dict = {"runs": args.runs, "images": {}}
    for image in images:
        figures["images"][image] = {
            phase: {
                "median": round(statistics.median(r[phase] for r in runs[image]), 2),
                "all": [round(r[phase], 2) for r in runs[image]],
            }
            for phase in PHASES
        }
    for phase in PHASES:
        base = figures["images"][args.baseline][phase]["median"]
        new = figures["images"][args.candidate][phase]["median"]
        figures[f"{phase}, candidate/baseline"] = round(new / base, 2)
        print(f"{phase}: baseline {base:.1f} s, candidate {new:.1f} s, ratio {new / base:.2f}")
    result_write("image-start", figures)


if __name__ == "__main__":
    main()
