"""The spawners' middle tier: JupyterHub's own in-process test hub (`MockHub`, from
jupyterhub.tests.mocking, as dockerspawner's and kubespawner's suites use it) running MLHub's
Docker spawner against the real Docker engine, with the hub's real REST API and the real
configurable-http-proxy. No portal, no subprocess stack: only the spawner is under test, in
the hub that drives it in production.

The hub runs on an event loop of its own, in a thread: Playwright's sync API (tests/browser)
keeps a loop running in pytest's own thread for the rest of the session, where upstream's
async `app` fixture (pytest-asyncio) could not run its loop. Tests stay plain functions, and
talk to the hub as the portal does, through portal.hub.client.HubClient.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from jupyterhub.tests.mocking import MockHub
from jupyterhub.utils import random_port
from traitlets.config import Config

from lib import env
from portal.hub.client import HubClient
from spawners.docker import MLHubDockerSpawner
from tests.docker_engine import remove_everything_of, require_image

# Its own hub name: everything made here is labelled mlhub.origin=mlhp and removed by it.
HUB = "mlhp"
IMAGE = "mlhub-workspace:latest"
G = 1024**3
# What hubconfig/jupyterhub_config.py grants the portal's service token.
PORTAL_SCOPES = ["admin:users", "servers", "tokens"]
# One call into the hub waits at most this (a start's progress has its own timeout).
CALL_TIMEOUT = 120

T = TypeVar("T")


def hub_config(tmp: Path, portal_token: str) -> Config:
    """The parts of the production hub config (hubconfig/jupyterhub_config.py) that concern
    the spawner, on free ports and files in `tmp`."""
    c = Config()
    c.JupyterHub.log_level = "INFO"  # MockHub's DEBUG logs every poll of every container
    c.JupyterHub.bind_url = f"http://127.0.0.1:{random_port()}/"
    # Workspace containers reach the hub's API at their network's gateway (Docker mode).
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{random_port()}"
    c.JupyterHub.cookie_secret = secrets.token_bytes(32)
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 0
    # As in production: a start answers 202 at once, its outcome is in the progress stream.
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0, "slow_stop_timeout": 0}
    c.JupyterHub.services = [{"name": "portal", "api_token": portal_token}]
    c.JupyterHub.load_roles = [
        {"name": "mlhub-portal", "scopes": PORTAL_SCOPES, "services": ["portal"]}
    ]
    c.JupyterHub.spawner_class = MLHubDockerSpawner
    c.ConfigurableHTTPProxy.command = [env.chp_path()]
    c.ConfigurableHTTPProxy.pid_file = str(tmp / "proxy.pid")
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 60
    c.MLHubDockerSpawner.hub_name = HUB
    c.MLHubDockerSpawner.workspace_images = [IMAGE]
    c.MLHubDockerSpawner.cpu_max = 2
    c.MLHubDockerSpawner.memory_max = 4 * G
    return c


class InProcessHub:
    """A MockHub on its own event loop thread; `call` runs a coroutine there, `in_hub` a
    function (the hub's database session and spawners belong to that thread)."""

    def __init__(self, config: Config):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="in-process-hub", daemon=True
        )
        self.thread.start()
        self.app: MockHub = self.call(self._start(config))
        self.portal_token = config.JupyterHub.services[0]["api_token"]

    async def _start(self, config: Config) -> MockHub:
        app = MockHub.instance(config=config)
        await app.initialize([])
        await app.start()
        return app

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def in_hub(self, function: Callable[[], T]) -> T:
        async def run() -> T:
            return function()

        return self.call(run())

    @property
    def api_url(self) -> str:
        """The hub's own API address, as the portal's HUB_API_URL names it."""
        return f"http://127.0.0.1:{self.app.hub.port}{self.app.hub.base_url}api"

    @property
    def public_url(self) -> str:
        """The proxy's address: workspaces are reached through it."""
        return self.app.bind_url.rstrip("/")

    def portal(self) -> HubClient:
        """The portal's own hub client, with the portal's token and scopes."""
        return HubClient(self.api_url, self.portal_token)

    def spawner(self, user: str, server: str) -> MLHubDockerSpawner:
        return self.in_hub(lambda: self.app.users[user].spawners[server])

    def stop(self) -> None:
        try:
            # cleanup_servers (the default): the hub stops what is still running.
            self.call(self.app.stop())
        finally:
            MockHub.clear_instance()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()


@pytest.fixture(scope="module", name="in_process_hub")
def in_process_hub_fixture(tmp_path_factory, docker_client) -> Iterator[InProcessHub]:
    """A MockHub spawning MLHubDockerSpawner on the real engine (or a skip/fail with why)."""
    require_image(docker_client, IMAGE)
    remove_everything_of(docker_client, HUB)
    tmp = tmp_path_factory.mktemp("in-process-hub")
    hub = InProcessHub(hub_config(tmp, secrets.token_hex(32)))
    try:
        yield hub
    finally:
        hub.stop()
        remove_everything_of(docker_client, HUB)
