"""A person's network made twice at once (the portal's fill making it ahead while a start, or
another fill, makes it: Docker's duplicate check is not atomic) is one network again after
either maker finds it, and the same one: the oldest (real engine)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from lib.labels import network_name
from spawners.docker import MLHubDockerSpawner
from spawners.docker_spec import docker_user_labels, surplus_networks
from spawners.pool.docker_pool import DockerPool
from tests.docker_engine import remove_everything_of

pytestmark = pytest.mark.docker

HUB = "mlhn"
PERSON = "dana"


def made_twice(docker_client) -> list[str]:
    """Two networks of the person's name, as two makers at once leave them; their Ids."""
    name = network_name(HUB, PERSON)
    return [
        docker_client.api.create_network(
            name, driver="bridge", labels=docker_user_labels(HUB, PERSON), check_duplicate=False
        )["Id"]
        for _ in range(2)
    ]


def left(docker_client) -> list[str]:
    name = network_name(HUB, PERSON)
    return [n["Id"] for n in docker_client.api.networks(names=[name]) if n["Name"] == name]


@pytest.fixture
def clean(docker_client):
    remove_everything_of(docker_client, HUB)
    yield
    remove_everything_of(docker_client, HUB)


def test_the_pools_fill_keeps_the_oldest(docker_client, clean):
    first, _ = made_twice(docker_client)
    assert DockerPool(HUB, client=docker_client).person_networks_deduplicate() == 1
    assert left(docker_client) == [first]


def test_a_start_that_finds_its_name_ambiguous_keeps_the_same_one(docker_client, clean):
    first, _ = made_twice(docker_client)
    spawner = MLHubDockerSpawner(
        hub_name=HUB,
        user=SimpleNamespace(name=PERSON, id=1, url=f"/user/{PERSON}/", escaped_name=PERSON),
        orm_spawner=SimpleNamespace(name="ws", server=None),
    )
    with ThreadPoolExecutor(1) as thread:  # off this thread: a browser test's loop may run here
        network = thread.submit(asyncio.run, spawner._ensure_network()).result()
    assert network["Id"] == first
    assert left(docker_client) == [first]


def test_of_each_name_all_but_the_oldest_then_the_smallest_id_are_surplus():
    listed = [
        {"Name": "h-a", "Id": "b2", "Created": "2026-12-07T10:00:00.2Z"},
        {"Name": "h-a", "Id": "b1", "Created": "2026-12-07T10:00:00.2Z"},
        {"Name": "h-a", "Id": "a9", "Created": "2026-12-07T10:00:00.3Z"},
        {"Name": "h-b", "Id": "c1", "Created": "2026-12-07T10:00:00.1Z"},
    ]
    assert [n["Id"] for n in surplus_networks(listed)] == ["b2", "a9"]
