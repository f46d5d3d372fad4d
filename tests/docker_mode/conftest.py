"""A real stack in Docker mode (EXECUTION_MODE=local) on the real engine."""

from __future__ import annotations

import docker
import pytest

from tests.docker_engine import docker_client  # noqa: F401 -- a fixture, used by name
from tests.hub_stack import running_stack
from tests.parts import require

# Its own hub name: the spawner's engine tests remove everything labelled with theirs.
HUB = "mlhd"
IMAGE = "mlhub-workspace:latest"
# Allowed but never built and not pullable: its spawns fail on the engine, which the portal
# must report.
MISSING_IMAGE = "127.0.0.1:9/mlhub-missing:never"  # a registry that refuses at once


def _remove_everything_of(client: docker.DockerClient, hub_name: str) -> None:
    origin = {"label": f"mlhub.origin={hub_name}"}
    for container in client.containers.list(all=True, filters=origin):
        container.remove(force=True, v=True)
    for volume in client.volumes.list(filters=origin):
        volume.remove(force=True)
    for network in client.networks.list(filters=origin):
        network.remove()


@pytest.fixture(scope="session")
def docker_hub(tmp_path_factory, docker_client):  # noqa: F811
    try:
        docker_client.images.get(IMAGE)
        image_found = True
    except docker.errors.ImageNotFound:
        image_found = False
    require(image_found, f"the image {IMAGE} is not built (make workspace-image)")
    _remove_everything_of(docker_client, HUB)
    try:
        yield from running_stack(
            tmp_path_factory.mktemp("mlhub-docker"),
            "local",
            HUB,
            {"MLHUB_WORKSPACE_IMAGES": f"{IMAGE},{MISSING_IMAGE}"},
        )
    finally:
        _remove_everything_of(docker_client, HUB)
