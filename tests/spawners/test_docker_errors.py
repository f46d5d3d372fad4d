"""Docker refusals that an administrator must fix are said plainly, with the fix; a slow
Docker call does not queue every other behind it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound
from requests import Response
from tornado.web import HTTPError

from spawners.docker import NO_ADDRESS_POOL, MLHubDockerSpawner

POOL_EXHAUSTED = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults to "
    "assign to the network"
)


class EngineWithoutAddresses(MLHubDockerSpawner):
    """The real spawner; only the engine's answers are ours (same signature as upstream's)."""

    async def docker(self, method, *args, **kwargs):
        if method == "inspect_network":
            raise NotFound("network not found")
        if method == "create_network":
            response = Response()
            response.status_code = 403
            raise APIError("403 Client Error: Forbidden", response, explanation=POOL_EXHAUSTED)
        raise AssertionError(f"unexpected Docker call {method}")


def test_an_engine_out_of_network_addresses_is_a_503_that_says_what_to_configure():
    spawner = EngineWithoutAddresses(hub_name="mlht", user=SimpleNamespace(name="ada"))
    with ThreadPoolExecutor(1) as thread, pytest.raises(HTTPError) as caught:
        thread.submit(asyncio.run, spawner._ensure_network()).result()
    assert caught.value.status_code == 503
    assert caught.value.jupyterhub_message == NO_ADDRESS_POOL


class SlowEngine(MLHubDockerSpawner):
    """Each Docker call holds its thread, as a `docker stop` does while the server shuts down."""

    at_once = 0
    most_at_once = 0

    def _engine_call(self, method, *args, **kwargs):
        SlowEngine.at_once += 1
        SlowEngine.most_at_once = max(SlowEngine.most_at_once, SlowEngine.at_once)
        time.sleep(0.2)
        SlowEngine.at_once -= 1


def test_a_slow_docker_call_does_not_hold_up_every_other():
    spawner = SlowEngine(user=SimpleNamespace(name="ada"))

    async def six_calls():
        await asyncio.gather(*(spawner.docker("stop", f"c{n}") for n in range(6)))

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, six_calls()).result()
    assert SlowEngine.most_at_once == spawner.long_docker_threads == 4


class StopsHeld(MLHubDockerSpawner):
    """The real spawner; each `docker stop` holds its thread until the test lets it go, as
    while the servers shut down. Inspections answer at once."""

    let_go = threading.Event()

    def _engine_call(self, method, *args, **kwargs):
        if method == "stop":
            assert StopsHeld.let_go.wait(30), "the test never let the stops go"
            return None
        assert method == "inspect_container", method
        return {"Id": args[0], "State": {"Running": True}}


def test_a_poll_is_not_queued_behind_stops_that_fill_their_threads():
    spawner = StopsHeld(user=SimpleNamespace(name="ada"))
    filling = spawner.long_docker_threads + spawner.docker_threads  # every thread there is

    async def poll_among_stops():
        stops = [spawner.docker("stop", f"c{n}") for n in range(filling)]
        inspected = await spawner.docker("inspect_container", "c-polled")
        pending = [stop for stop in stops if not stop.done()]
        StopsHeld.let_go.set()
        await asyncio.gather(*stops)
        return inspected, len(pending)

    with ThreadPoolExecutor(1) as thread:
        inspected, pending = thread.submit(asyncio.run, poll_among_stops()).result()
    assert inspected == {"Id": "c-polled", "State": {"Running": True}}
    assert pending == filling, "the poll waited for a stop to end"


def test_the_docker_client_keeps_a_connection_for_every_thread():
    spawner = MLHubDockerSpawner(user=SimpleNamespace(name="ada"), docker_threads=12)
    threads = spawner.docker_threads + spawner.long_docker_threads
    assert spawner.client_kwargs == {"max_pool_size": threads}
    assert spawner.client.adapters["http+docker://"].max_pool_size == threads
