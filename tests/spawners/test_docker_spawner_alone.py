"""Upstream's methods of the Docker spawner work when called on their own, as subclasses'
should: create_object() without start() makes the container MLHub would (real engine)."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import docker
import pytest

from lib.labels import volume_name
from spawners.docker import MLHubDockerSpawner
from tests.docker_engine import remove_everything_of, require_image

pytestmark = pytest.mark.docker

HUB = "mlha"
G = 1024**3


class NoHub(SimpleNamespace):
    """What create_object reads of the hub (its URLs for the container's environment)."""


def test_create_object_alone_applies_the_checked_options_and_labels(docker_client):
    image = "mlhub-workspace:latest"
    require_image(docker_client, image)
    remove_everything_of(docker_client, HUB)
    hub = NoHub(
        api_url="http://127.0.0.1:8081/hub/api",
        base_url="/hub/",
        url="http://127.0.0.1:8081/hub/",
        public_host="",
    )
    spawner = MLHubDockerSpawner(
        hub_name=HUB,
        user=SimpleNamespace(name="a.b@c", id=1, url="/user/a.b@c/", escaped_name="a.b%40c"),
        hub=hub,
        orm_spawner=SimpleNamespace(name="ws1", server=None),
        cpu_max=2,
        memory_max=4 * G,
        network_name="bridge",
    )
    spawner.user_options = {"cpu": "500m", "memory": "1Gi", "expires_at": 1900000000}
    try:
        # Off this thread: Playwright's sync API may keep an event loop running here.
        with ThreadPoolExecutor(1) as thread:
            created = thread.submit(asyncio.run, spawner.create_object()).result()
        found = docker_client.api.inspect_container(created["Id"])
        assert found["Name"] == "/mlha-a-b-c-x945547706971458a--ws1"
        assert found["HostConfig"]["NanoCpus"] == 500_000_000
        assert found["HostConfig"]["Memory"] == G
        assert found["HostConfig"]["CpuQuota"] == 0  # upstream's cpu_limit is ours, not added
        labels = found["Config"]["Labels"]
        assert {k: v for k, v in labels.items() if k.startswith("mlhub.")} == {
            "mlhub.origin": HUB,
            "mlhub.user": "a-b-c-x945547706971458a",
            "mlhub.username": "a.b@c",
            "mlhub.server_name": "ws1",
            "mlhub.expires_at": "1900000000",
        }
    finally:
        remove_everything_of(docker_client, HUB)
        # create_object alone makes no labelled volume: the engine made it, unlabelled, at
        # the container's mount (left behind after every run before).
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(volume_name(HUB, "a.b@c", "ws1")).remove(force=True)
