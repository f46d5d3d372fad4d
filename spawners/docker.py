"""Docker mode (EXECUTION_MODE=local): workspaces as containers on this host's Docker engine.

A thin DockerSpawner subclass. What it adds to upstream:
- resources (image, cpu, memory, gpus, shm, env) from `user_options`, checked against this
  hub's limits (spawners/options.py, shared with Kubernetes mode), and the owner's SSH keys
  for the workspace's own sshd;
- labels `mlhub.*` on the container, its volume and the user's network (cleanup relies on them);
- a bridge network per user, so one user's workspaces cannot reach another user's;
- a named volume per workspace at `work_dir`, kept across stop/start, gone in delete_forever;
- the hub's API URL pointed at the network's gateway (containers reach the host there), or,
  when the hub runs in a container itself (the MLHub image: `hub_container`), that container
  joined to each person's network and its address there.
Names and labels come from lib.labels (shared with Kubernetes mode and cleanup), host
config from the pure builders in spawners.docker_spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import docker
from docker.errors import APIError, NotFound
from dockerspawner import DockerSpawner
from jupyterhub.utils import maybe_future
from traitlets import Int, Unicode, default

from lib import labels as names
from spawners import docker_spec
from spawners.docker_claim import ClaimsPoolSlots
from spawners.naming import server_label
from spawners.network_guard import NetworkGuard
from spawners.options import DEFAULT_IMAGE, START_LOG_LINES, WorkspaceOptions, refusal
from spawners.readiness import ReadyWhenListening
from spawners.state_reports import ReportsState

# Every spawner of this hub process shares it: see spawners/network_guard.py.
NETWORKS = NetworkGuard()
# Docker calls that wait for the world (a server's shutdown, a download), not the engine.
# (A pool slot's claim, exec_start, waits for the slot's waiter to take its identity.)
LONG_DOCKER_CALLS = frozenset({"stop", "pull", "wait", "exec_start"})

# Each person's network takes a subnet from the engine's pools: the default pools hold about
# 30 (a /16 each, then /20s), so the 31st person cannot start. Said plainly, with the fix.
NO_ADDRESS_POOL = (
    "The Docker engine has no address range left for another person's network (its default "
    "pools hold about 30): the administrator sets default-address-pools in "
    "/etc/docker/daemon.json, e.g. base 10.200.0.0/16 size 24 (see docs/configuration.md)"
)


def _merged(configured: Any, ours: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
    """An extra_* value (upstream's documented contract: a dict, or a callable of the spawner,
    maybe async): the deployment's own, then ours for this start on top."""

    async def merged(spawner: DockerSpawner) -> dict[str, Any]:
        base = configured(spawner) if callable(configured) else configured
        if inspect.isawaitable(base):
            base = await base
        result = dict(base or {})
        for key, value in ours(spawner).items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                value = {**result[key], **value}
            result[key] = value
        return result

    return merged


class MLHubDockerSpawner(
    ClaimsPoolSlots, WorkspaceOptions, ReportsState, ReadyWhenListening, DockerSpawner
):
    docker_threads = Int(
        12,
        help="""Docker calls the hub makes at once (upstream makes one at a time): inspections,
        creates, starts and removals. The calls that wait on something outside the engine's
        bookkeeping have threads of their own (`long_docker_threads`). A warm pool's claim
        is a dozen calls: with 4, a lecture's 100 claims queued here for 18 s at the median
        (bench.concurrent --pool 100; docs/performance.md, "Warm pools").""",
    ).tag(config=True)

    long_docker_threads = Int(
        4,
        help="""Threads for the Docker calls that wait: a `docker stop` holds its thread until
        the server has shut down (seconds), an image pull until it is downloaded. Apart, they
        never queue the hub's polls, starts and removals behind them: with one pool, 50
        deletes at once made every other Docker call wait (bench/README.md, concurrent.py).
        The Docker client keeps a connection for each thread of both (``client_kwargs``).""",
    ).tag(config=True)

    @default("client_kwargs")
    def _default_client_kwargs(self) -> dict[str, Any]:
        # docker's client keeps 10 connections by default: a thread beyond them would wait
        # for one (and urllib3 warns that its pool is full).
        return {"max_pool_size": self.docker_threads + self.long_docker_threads}

    # One pool for every spawner of this hub process, as upstream's; just wider.
    _short_executor: ThreadPoolExecutor | None = None
    _long_executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        cls = MLHubDockerSpawner
        if cls._short_executor is None:
            cls._short_executor = ThreadPoolExecutor(
                self.docker_threads, thread_name_prefix="docker"
            )
        return cls._short_executor

    @property
    def long_executor(self) -> ThreadPoolExecutor:
        cls = MLHubDockerSpawner
        if cls._long_executor is None:
            cls._long_executor = ThreadPoolExecutor(
                self.long_docker_threads, thread_name_prefix="docker-long"
            )
        return cls._long_executor

    def docker(self, method: str, *args, **kwargs) -> asyncio.Future:
        """The Docker client's ``method`` in a thread (upstream's contract), on the long
        calls' pool when it waits."""
        pool = self.long_executor if method in LONG_DOCKER_CALLS else self.executor
        return asyncio.wrap_future(pool.submit(self._engine_call, method, *args, **kwargs))

    def _engine_call(self, method: str, *args, **kwargs) -> Any:
        """The Docker client's ``method``, in the calling thread."""
        return getattr(self.client, method)(*args, **kwargs)

    hub_container = Unicode(
        "",
        help="""The hub's own container (name or id) when the hub runs in one, as in the MLHub
        image (MLHUB_DOCKER_HUB_CONTAINER). It joins each person's network on their first
        start, so that the proxy and the SSH gateway reach their workspaces and the workspaces
        reach the hub's API at its address there, and leaves it before the network is removed.
        Empty: the hub runs on the engine's host, which reaches every network's gateway.""",
    ).tag(config=True)

    # Upstream traits with MLHub defaults.
    @default("image")
    def _default_image(self) -> str:
        return self.workspace_images[0] if self.workspace_images else DEFAULT_IMAGE

    @default("allowed_images")
    def _default_allowed_images(self) -> dict[str, str]:
        return {image: image for image in self.workspace_images}

    @default("remove")
    def _default_remove(self) -> bool:
        return True  # the named volume keeps the data; a fresh container applies new resources

    @default("network_name")
    def _default_network_name(self) -> str:
        return names.network_name(self.hub_name, self.user.name)

    @default("object_name")
    def _object_name_default(self) -> str:  # upstream calls it by this name when image changes
        return names.container_name(self.hub_name, self.user.name, self.name or "")

    @default("options_from_form")
    def _default_options_from_form(self) -> str:
        # Form fields arrive as lists of strings; upstream's "simple" unpacks single values and
        # keeps everything for our check (DockerSpawner's own default keeps only "image").
        return "simple"

    _hub_address: str = ""  # where this workspace's container reaches the hub
    _volume_name: str = ""

    @property
    def volume_name(self) -> str:
        return self._volume_name or names.volume_name(
            self.hub_name, self.user.name, self.name or ""
        )

    @property
    def volume_binds(self) -> dict[str, dict[str, str]]:
        binds = super().volume_binds
        binds[self.volume_name] = {"bind": self.work_dir, "mode": "rw"}
        return binds

    def _labels(self) -> dict[str, str]:
        return docker_spec.docker_labels(
            self.hub_name, self.user.name, self.name or "", self._expires_at
        )

    async def start(self) -> tuple[str, int]:
        if self._configured_hub_url is None:  # before this spawner ever set it
            self._configured_hub_url = self.hub_connect_url or ""
        self.options_apply()
        self._apply_resources()
        self._check_hub_reachable()
        began = time.perf_counter()
        async with NETWORKS.starting(self.network_name, self._ensure_network) as network:
            if self.hub_container:
                self._hub_address = await self._hub_joins(network)
            else:
                self._hub_address = network["IPAM"]["Config"][0]["Gateway"]
            self._point_at_the_hub()
            claimed = await self.slot_claim(network)
            if claimed:
                return await self.ready_when_listening(claimed, began)
            networked = time.perf_counter()
            await self._ensure_volume()
            self.log.info(
                "%s network ready in %.3f s, volume in %.3f s",
                server_label(self),
                networked - began,
                time.perf_counter() - networked,
            )
            return await super().start()

    async def get_url(self) -> str:
        """Where the running container answers: upstream's hook for a hub that restarts while a
        start was under way. The hub's record then holds the address it had before the
        container had one, so the hub would wait its whole ``http_timeout`` there, stop a
        workspace that runs, and hold back the proxy routes of every other workspace it was
        still checking (the soak saw routes missing for a minute, issue 24)."""
        try:
            ip, port = await self.get_ip_and_port()
        except Exception as error:  # any (an API error, no such network): keep the record's
            self.log.warning("%s: no address from the engine (%s)", server_label(self), error)
            return await super().get_url()
        return f"{self.server.proto}://{ip}:{port}{self.server.base_url}"

    def _apply_resources(self) -> None:
        self.image = self.resources.image
        # Our nano_cpus replaces upstream's cpu_quota (Docker refuses both); mem_limit also
        # lands in the MEM_LIMIT variable that resource monitors read.
        self.cpu_limit = None
        self.mem_limit = self.resources.memory

    # c.Spawner.hub_connect_url as the deployment set it ("": not set), kept before this
    # spawner sets its own for each start.
    _configured_hub_url: str | None = None

    def _point_at_the_hub(self) -> None:
        """Containers reach the hub at its address on their network: the host's gateway, or
        the hub's own container. The hub's connect address (a hostname, or loopback for the
        proxy) is not reachable from inside them. Set for this start, through the public
        trait upstream's get_env reads; the deployment's c.Spawner.hub_connect_url wins."""
        if self._configured_hub_url or not self._hub_address:
            return
        api = urlparse(self.hub.api_url)
        port = api.port or (443 if api.scheme == "https" else 80)
        self.hub_connect_url = f"{api.scheme}://{self._hub_address}:{port}"

    def _check_hub_reachable(self) -> None:
        if self._configured_hub_url:
            return  # the deployment says where containers find the hub
        if self.hub.ip in ("127.0.0.1", "localhost", "::1"):
            raise refusal(
                500,
                "the hub listens on loopback only, which workspace containers cannot reach: "
                "set c.JupyterHub.hub_bind_url = 'http://0.0.0.0:8081'",
            )

    async def _ensure_network(self) -> dict[str, Any]:
        ours = docker_spec.docker_user_labels(self.hub_name, self.user.name)
        try:
            network = await self._inspect_network()
        except NotFound:
            try:
                await self.docker(
                    "create_network",
                    self.network_name,
                    driver="bridge",
                    labels=ours,
                    check_duplicate=True,
                )
            except APIError as error:
                if "address pool" in str(error.explanation or ""):
                    raise refusal(503, NO_ADDRESS_POOL) from error
                if error.status_code != 409:  # 409: a concurrent spawn of this user made it
                    raise
            network = await self._inspect_network()
        # A same-named network we did not make could put this user next to someone else.
        found = network.get("Labels") or {}
        if (
            found.get(names.LABEL_ORIGIN) != self.hub_name
            or names.owner_of(found) != self.user.name
        ):
            raise refusal(
                500,
                f"Docker network {self.network_name} exists but is not this hub's network "
                f"for {self.user.name}; remove it or change HUB_NAME",
            )
        return network

    async def _inspect_network(self) -> dict[str, Any]:
        """The person's network by its name; when the name is ambiguous (the portal's fill
        made it ahead at the same moment, portal/pools/networks.py), the surplus is removed
        first, as the fill would (docker_spec.surplus_networks)."""
        try:
            return await self.docker("inspect_network", self.network_name)
        except APIError as error:
            if error.status_code != 400 or "ambiguous" not in str(error.explanation or ""):
                raise
        listed = await self.docker("networks", names=[self.network_name])
        for network in docker_spec.surplus_networks(
            [n for n in listed if n["Name"] == self.network_name]
        ):
            with contextlib.suppress(NotFound, APIError):  # in use: the next inspect says so
                await self.docker("remove_network", network["Id"])
        return await self.docker("inspect_network", self.network_name)

    async def _hub_joins(self, network: dict[str, Any]) -> str:
        """Connect the hub's container to the person's network (once) and return its address
        there."""

        def address(container: dict[str, Any]) -> str:
            found = container["NetworkSettings"]["Networks"].get(network["Name"]) or {}
            return found.get("IPAddress", "")

        try:
            hub = await self.docker("inspect_container", self.hub_container)
            if not address(hub):
                try:
                    await self.docker(
                        "connect_container_to_network", self.hub_container, network["Id"]
                    )
                except APIError as error:
                    # A concurrent start of this person connected it first: fine.
                    if "already exists" not in str(error.explanation or ""):
                        raise
                hub = await self.docker("inspect_container", self.hub_container)
        except NotFound:
            raise refusal(
                500,
                f"the hub's container {self.hub_container} (MLHUB_DOCKER_HUB_CONTAINER) is not "
                "on this Docker engine",
            ) from None
        return address(hub)

    async def _ensure_volume(self) -> None:
        try:
            await self.docker("inspect_volume", self.volume_name)
        except NotFound:
            # Created here (not implicitly by the mount) so that it carries our labels.
            await self.docker("create_volume", name=self.volume_name, labels=self._labels())
        self._volume_name = self.volume_name

    _extras_merged = False
    _extras_configured = False

    @property
    def _deployment_extras(self) -> bool:
        """Whether the deployment set extra_host_config or extra_create_kwargs of its own."""
        if self._extras_merged:
            return self._extras_configured
        return bool(self.extra_host_config) or bool(self.extra_create_kwargs)

    def _merge_extras(self) -> None:
        """Once per spawner: upstream merges ``extra_host_config`` and ``extra_create_kwargs``
        (a dict or a callable of the spawner) into what it creates. They become callables that
        give the deployment's own values with ours on top, read at each create from this
        start's checked resources (ours win for the keys we set: resources were checked,
        labels are ours). Nothing is swapped in and out around upstream's call."""
        if self._extras_merged:
            return
        self._extras_configured = self._deployment_extras
        self._extras_merged = True
        self.extra_host_config = _merged(self.extra_host_config, MLHubDockerSpawner._host_config)
        self.extra_create_kwargs = _merged(
            self.extra_create_kwargs, lambda spawner: {"labels": spawner._labels()}
        )

    def _host_config(self) -> dict[str, Any]:
        host_config = docker_spec.host_config(self.resources)
        if "device_requests" in host_config:
            host_config["device_requests"] = [
                docker.types.DeviceRequest(**request) for request in host_config["device_requests"]
            ]
        return host_config

    async def create_object(self) -> dict[str, Any]:
        self._apply_resources()  # also when called on its own, without start()
        self._merge_extras()
        return await super().create_object()

    def get_env(self) -> dict[str, str]:
        env = dict(self._resources.env) if self._resources else {}
        env.update(super().get_env())  # the hub's variables win over the user's
        if self._resources:
            env["CPU_LIMIT"] = f"{self._resources.cpu:g}"
        env.update(self.ssh_env())
        return env

    async def pull_image(self, image: str) -> None:
        try:
            await super().pull_image(image)
        except APIError as error:
            raise refusal(
                500,
                f"image {image} is not on the Docker engine and could not be pulled "
                f"({error.explanation}); build it with deploy/scripts/build-workspace-image.sh",
            ) from error

    async def start_failure(self) -> str:
        """The container's exit code and last lines (it is still there until the hub's stop
        removes it)."""
        try:
            # By name: upstream's poll forgets the id of a container that exited.
            found = await self.docker("inspect_container", self.object_name)
            logs = await self.docker("logs", self.object_name, tail=START_LOG_LINES)
        except (NotFound, APIError):
            return await super().start_failure()
        code = found["State"].get("ExitCode")
        text = logs.decode(errors="replace").rstrip() if logs else ""
        lines = f". Its last lines:\n{text}" if text else ""
        return f"the workspace exited while starting (exit code {code}){lines}"

    async def stop(self, now: bool = False) -> None:
        if not self.object_id and not await self.get_object():
            self.clear_state()  # a start that failed before its container existed
            return
        await super().stop(now=now)

    async def run_post_stop_hook(self) -> None:
        """After every end of the server. One the hub found by its poll (the container ended
        by itself: killed, out of memory, the engine restarted) gets no ``stop()``, so
        upstream never removes its container (``remove``): it stayed, exited, until the
        workspace was deleted (found by the soak, bench/soak.py). Removed here; the volume
        keeps the data, as after any stop."""
        await maybe_future(super().run_post_stop_hook())
        if not self.remove:
            return
        try:
            found = await self.docker("inspect_container", self.object_name)
        except NotFound:
            return
        if not found["State"]["Running"]:
            await self._remove_container(found["Id"])

    async def delete_forever(self) -> None:
        """The workspace is deleted (not just stopped): remove its container and volume,
        and the user's network once no workspace of theirs is left on it."""
        container = await self.get_object()
        if container:
            await self._remove_container(container["Id"])
        try:
            await self.docker("remove_volume", self.volume_name)
        except NotFound:
            pass
        except APIError as error:  # 409: still mounted by a container someone else made
            self.log.warning("Could not remove volume %s: %s", self.volume_name, error)
        await self._remove_network_if_unused()

    async def _remove_container(self, container_id: str, timeout: float = 15) -> None:
        """Remove the container, tolerating Docker's own auto-removal already under way
        (409 "removal already in progress"), and wait until it is really gone: the volume
        and the network cannot be removed while it exists."""
        try:
            await self.docker("remove_container", container_id, v=True, force=True)
        except NotFound:
            return
        except APIError as error:
            if error.status_code != 409:
                raise
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                await self.docker("inspect_container", container_id)
            except NotFound:
                return
            await asyncio.sleep(0.2)
        self.log.warning("Container %s is still being removed after %ss", container_id, timeout)

    async def _remove_network_if_unused(self) -> None:
        mine = names.user_labels(self.hub_name, self.user.name)
        filters = {"label": docker_spec.label_filters(mine)}
        async with NETWORKS.removing(self.network_name) as no_start_needs_it:
            if not no_start_needs_it or await self.docker("containers", all=True, filters=filters):
                return
            if self.hub_container:
                with contextlib.suppress(NotFound, APIError):  # not connected: nothing to do
                    await self.docker(
                        "disconnect_container_from_network",
                        self.hub_container,
                        self.network_name,
                        force=True,
                    )
            try:
                await self.docker("remove_network", self.network_name)
            except NotFound:
                pass
            except APIError as error:  # still in use by something unlabelled
                self.log.warning("Could not remove network %s: %s", self.network_name, error)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        # Names as created, so a later HUB_NAME or naming change still finds the user's data.
        self._volume_name = state.get("volume_name", "")
        if state.get("network_name"):
            self.network_name = state["network_name"]

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self._volume_name:  # kept after a stop: delete_forever needs it
            state["volume_name"] = self._volume_name
            state["network_name"] = self.network_name
        return state
