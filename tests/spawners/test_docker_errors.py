"""Docker refusals that an administrator must fix are said plainly, with the fix."""

from __future__ import annotations

import asyncio
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
    assert "default-address-pools" in NO_ADDRESS_POOL
