"""The Docker engine fixture: a real engine or (locally) a skip with the reason."""

from __future__ import annotations

import docker
import pytest
from docker.errors import DockerException

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
