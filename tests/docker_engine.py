"""The Docker engine fixture: a real engine or (locally) a skip with the reason."""

from __future__ import annotations

import docker
import pytest
from docker.errors import DockerException

from lib.labels import LABEL_ORIGIN
from tests.parts import require


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = docker.from_env(timeout=30)
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
