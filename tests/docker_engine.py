"""The Docker engine fixture: a real engine or (locally) a skip with the reason. And what
lets the short soak restart the engine while other tests run beside it (Makefile)."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from lib.labels import LABEL_ORIGIN
from tests.parts import require

# `make test` runs these tests beside the soak, which restarts the Docker engine
# (MLHUB_TESTS_BESIDE_THE_SOAK=true): none may use the engine, and one that does fails at
# once with where it belongs, instead of failing now and then when the restart meets it.
BESIDE_THE_SOAK = "MLHUB_TESTS_BESIDE_THE_SOAK"
# The cluster's tests do run beside the soak, and copy images out of the engine now and then:
# the soak's restart holds this lock alone, every such use holds it shared, so neither meets
# the other halfway.
ENGINE_LOCK = Path(tempfile.gettempdir()) / "mlhub-docker-engine.lock"


def refuse_docker_beside_the_soak(what: str) -> None:
    if os.environ.get(BESIDE_THE_SOAK) == "true":
        pytest.fail(
            f"{what} needs the Docker engine, and this run is beside the soak, which restarts "
            "it: name its file in the Makefile's DOCKER_TESTS",
            pytrace=False,
        )


@contextmanager
def engine_held(alone: bool = False) -> Iterator[None]:
    """The engine, not restarted meanwhile (``alone``: for its restart, nobody else's use)."""
    with ENGINE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield  # closing the file lets go


@pytest.fixture(scope="session")
def docker_client():
    refuse_docker_beside_the_soak("this test")
    try:
        client = docker.from_env(timeout=30)
        with engine_held():
            client.ping()
    except DockerException as error:
        client = None
        reason = f"no Docker engine answers ({error}); run deploy/scripts/docker-engine.sh"
    require(client is not None, reason if client is None else "")
    yield client
    client.close()


def require_image(client, image: str) -> None:
    try:
        client.images.get(image)
        found = True
    except docker.errors.ImageNotFound:
        found = False
    require(found, f"the image {image} is not built (make workspace-image)")


def remove_everything_of(client, hub_name: str) -> None:
    """Remove the containers, volumes and networks labelled with this hub's origin."""
    origin = {"label": f"{LABEL_ORIGIN}={hub_name}"}
    for container in client.containers.list(all=True, filters=origin):
        container.remove(force=True, v=True)
    for volume in client.volumes.list(filters=origin):
        volume.remove(force=True)
    for network in client.networks.list(filters=origin):
        try:
            network.remove()
        except docker.errors.APIError as error:
            # A warm pool's network with no container left whose endpoint counter concurrent
            # disconnects left above zero (libnetwork; docs/performance.md, "Warm pools"):
            # the engine refuses its removal until it restarts. It holds no address.
            network.reload()
            if error.status_code != 403 or network.attrs.get("Containers"):
                raise
