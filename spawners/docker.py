"""Docker mode (EXECUTION_MODE=local): workspaces as containers on this host's Docker engine.

A thin DockerSpawner subclass. What it adds to upstream:
- resources (image, cpu, memory, gpus, shm, env) from `user_options`, checked against this
  hub's limits with spawners.resources, so a client that skips the portal is refused too;
- labels `mlhub.*` on the container, its volume and the user's network (cleanup relies on them);
- a bridge network per user, so one user's workspaces cannot reach another user's;
- a named volume per workspace at `work_dir`, kept across stop/start, gone in delete_forever;
- the hub's API URL pointed at the network's gateway (containers reach the host there).
Names, labels and host config come from the pure builders in spawners.docker_spec.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import docker
from docker.errors import APIError, NotFound
from dockerspawner import DockerSpawner
from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Bool, Float, Int, List, TraitError, Unicode, Union, default, validate

from lib import env
from spawners import docker_spec
from spawners.network_guard import NetworkGuard
from spawners.readiness import ReadyWhenListening
from spawners.resources import (
    Limits,
    ResourceError,
    WorkspaceResources,
    parse_expires_at,
    parse_memory,
    resources_from_options,
)
from spawners.state_reports import ReportsState

DEFAULT_IMAGE = "mlhub-workspace:latest"


def _from_env(name: str, parse: Callable[[str], Any], fallback: Any) -> Any:
    """A trait default from the environment; a bad value names its variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return fallback
    try:
        return parse(raw)
    except ValueError as error:
        raise ResourceError(f"{name}={raw!r}: {error}") from error


# Every spawner of this hub process shares it: see spawners/network_guard.py.
NETWORKS = NetworkGuard()

# Each person's network takes a subnet from the engine's pools: the default pools hold about
# 30 (a /16 each, then /20s), so the 31st person cannot start. Said plainly, with the fix.
NO_ADDRESS_POOL = (
    "The Docker engine has no address range left for another person's network (its default "
    "pools hold about 30): the administrator sets default-address-pools in "
    "/etc/docker/daemon.json, e.g. base 10.200.0.0/16 size 24 (see docs/configuration.md)"
)


def _refusal(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose message the hub relays as is: in the API's error JSON, and as
    "Spawn failed: <message>" in the progress stream (when the start answered 202 first)."""
    error = web.HTTPError(status, message)
    error.jupyterhub_message = message
    return error


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _merged(configured: Any, ours: dict[str, Any]) -> Callable[[Any], Any]:
    """A callable extra_* value: the deployment's own (dict or callable), then ours on top."""

    async def merged(spawner: DockerSpawner) -> dict[str, Any]:
        base = spawner._eval_if_callable(configured)
        if inspect.isawaitable(base):
            base = await base
        result = dict(base or {})
        for key, value in ours.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                value = {**result[key], **value}
            result[key] = value
        return result

    return merged


class MLHubDockerSpawner(ReportsState, ReadyWhenListening, DockerSpawner):
    hub_name = Unicode(
        help="""This hub's name (HUB_NAME, 1-5 DNS characters): prefix of every container,
        network and volume, and the value of their `mlhub.origin` label. Default: env HUB_NAME
        or "mlhub".""",
    ).tag(config=True)

    docker_threads = Int(
        4,
        help="""Docker calls the hub makes at once (upstream makes one at a time). A `docker
        stop` holds its thread until the server has shut down (a second or more), so with one
        thread 50 deletes queued every other Docker call behind them, starts and the hub's
        poll of running servers included, for a minute (bench/README.md, concurrent.py).
        Docker's client keeps 10 connections: stay at or under that.""",
    ).tag(config=True)

    @property
    def executor(self) -> ThreadPoolExecutor:
        # One pool for every spawner of this hub process, as upstream's; just wider.
        cls = MLHubDockerSpawner
        if cls._executor is None:
            cls._executor = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="docker")
        return cls._executor

    workspace_images = List(
        Unicode(),
        help="""Images users may run (the seed's `c.Spawner.workspace_images`); the first is
        the default. Default: env MLHUB_WORKSPACE_IMAGES (comma-separated) or
        ["mlhub-workspace:latest"].""",
    ).tag(config=True)

    cpu_max = Float(
        help="Most cores one workspace may ask for. Default: env MLHUB_CPU_MAX or all cores.",
    ).tag(config=True)

    memory_max = Union(
        [Int(), Unicode()],
        help="""Most memory one workspace may ask for: bytes or "8G" (binary units, as Docker).
        Default: env MLHUB_MEMORY_MAX or the host's memory.""",
    ).tag(config=True)

    default_cpu = Float(
        help="Cores when none are asked for. Default: env MLHUB_DEFAULT_CPU or min(1, cpu_max).",
    ).tag(config=True)

    default_memory = Union(
        [Int(), Unicode()],
        help="""Memory when none is asked for. Default: env MLHUB_DEFAULT_MEMORY or
        min(2G, memory_max).""",
    ).tag(config=True)

    gpus_max = Int(
        help="Most GPU device indices one workspace may ask for; 0 = no GPU. Default: env "
        "MLHUB_GPUS_MAX or 0.",
    ).tag(config=True)

    allow_all_gpus = Bool(
        help="""Whether gpus="all" (every GPU of the host, whatever gpus_max says) is allowed.
        Default: env MLHUB_ALLOW_ALL_GPUS=1 or False.""",
    ).tag(config=True)

    work_dir = Unicode(
        "/home/jovyan/work",
        help="""Folder in the container where the workspace's named volume is mounted; the
        only place whose files survive a stop. It is also the Jupyter root folder.""",
    ).tag(config=True)

    @default("hub_name")
    def _default_hub_name(self) -> str:
        return env.hub_name()

    @validate("hub_name")
    def _check_hub_name(self, proposal: dict[str, Any]) -> str:
        try:
            return env.check_hub_name(proposal["value"])
        except ValueError as error:
            raise TraitError(str(error)) from error

    @default("workspace_images")
    def _default_workspace_images(self) -> list[str]:
        return env.workspace_images() or [DEFAULT_IMAGE]

    @default("cpu_max")
    def _default_cpu_max(self) -> float:
        return _from_env("MLHUB_CPU_MAX", float, float(os.cpu_count() or 1))

    @default("memory_max")
    def _default_memory_max(self) -> int:
        return _from_env("MLHUB_MEMORY_MAX", parse_memory, _host_memory())

    @default("default_cpu")
    def _default_default_cpu(self) -> float:
        return _from_env("MLHUB_DEFAULT_CPU", float, 0.0)

    @default("default_memory")
    def _default_default_memory(self) -> int:
        return _from_env("MLHUB_DEFAULT_MEMORY", parse_memory, 0)

    @default("gpus_max")
    def _default_gpus_max(self) -> int:
        return env.env_int("MLHUB_GPUS_MAX", 0)

    @default("allow_all_gpus")
    def _default_allow_all_gpus(self) -> bool:
        return env.env_bool("MLHUB_ALLOW_ALL_GPUS")

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
        return docker_spec.network_name(self.hub_name, self.user.name)

    @default("object_name")
    def _object_name_default(self) -> str:  # upstream calls it by this name when image changes
        return docker_spec.container_name(self.hub_name, self.user.name, self.name or "")

    @default("notebook_dir")
    def _default_notebook_dir(self) -> str:
        return self.work_dir

    @default("options_from_form")
    def _default_options_from_form(self) -> Callable[[dict[str, list[str]]], dict[str, Any]]:
        # Form fields arrive as lists of strings; unpack single values, keep everything else
        # for the check below (upstream's default keeps only "image").
        return Spawner._simple_options_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Callable[[Any, dict[str, Any]], None]:
        # user_options are checked and applied in start(): an HTTPError raised there reaches
        # the client as is and is logged without a traceback. This no-op only tells the hub
        # they are handled (it warns about unhandled user_options otherwise).
        return lambda spawner, options: None

    _resources: WorkspaceResources | None = None
    _expires_at: int = 0
    _gateway: str = ""
    _volume_name: str = ""

    @property
    def limits(self) -> Limits:
        try:
            return Limits(
                images=tuple(self.workspace_images),
                cpu_max=self.cpu_max,
                memory_max=parse_memory(self.memory_max),
                gpus_max=self.gpus_max,
                default_cpu=self.default_cpu,
                default_memory=parse_memory(self.default_memory) if self.default_memory else 0,
                allow_all_gpus=self.allow_all_gpus,
            )
        except ResourceError as error:
            raise _refusal(500, f"MLHub Docker spawner configuration: {error}") from error

    def check_options(self, options: dict[str, Any]) -> tuple[WorkspaceResources, int]:
        """Resources and expiry from user_options, or a 400 whose message the hub relays."""
        try:
            return resources_from_options(options, self.limits), parse_expires_at(
                (options or {}).get("expires_at")
            )
        except ResourceError as error:
            raise _refusal(400, str(error)) from error

    @property
    def volume_name(self) -> str:
        return self._volume_name or docker_spec.volume_name(
            self.hub_name, self.user.name, self.name or ""
        )

    @property
    def volume_binds(self) -> dict[str, dict[str, str]]:
        binds = super().volume_binds
        binds[self.volume_name] = {"bind": self.work_dir, "mode": "rw"}
        return binds

    def _labels(self) -> dict[str, str]:
        return docker_spec.labels(self.hub_name, self.user.name, self.name or "", self._expires_at)

    async def start(self) -> tuple[str, int]:
        self._resources, self._expires_at = self.check_options(self.user_options)
        self.image = self._resources.image
        # Our nano_cpus replaces upstream's cpu_quota (Docker refuses both); mem_limit also
        # lands in the MEM_LIMIT variable that resource monitors read.
        self.cpu_limit = None
        self.mem_limit = self._resources.memory
        self._check_hub_reachable()
        began = time.perf_counter()
        async with NETWORKS.starting(self.network_name, self._ensure_network) as network:
            self._gateway = network["IPAM"]["Config"][0]["Gateway"]
            networked = time.perf_counter()
            await self._ensure_volume()
            self.log.info(
                "%s network ready in %.3f s, volume in %.3f s",
                self._log_name,
                networked - began,
                time.perf_counter() - networked,
            )
            return await super().start()

    def _check_hub_reachable(self) -> None:
        if self.hub_connect_url:
            return  # the deployment says where containers find the hub
        if self.hub.ip in ("127.0.0.1", "localhost", "::1"):
            raise _refusal(
                500,
                "the hub listens on loopback only, which workspace containers cannot reach: "
                "set c.JupyterHub.hub_bind_url = 'http://0.0.0.0:8081'",
            )

    async def _ensure_network(self) -> dict[str, Any]:
        ours = docker_spec.user_labels(self.hub_name, self.user.name)
        try:
            network = await self.docker("inspect_network", self.network_name)
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
                    raise _refusal(503, NO_ADDRESS_POOL) from error
                if error.status_code != 409:  # 409: a concurrent spawn of this user made it
                    raise
            network = await self.docker("inspect_network", self.network_name)
        # A same-named network we did not make could put this user next to someone else.
        if any((network.get("Labels") or {}).get(k) != v for k, v in ours.items()):
            raise _refusal(
                500,
                f"Docker network {self.network_name} exists but is not this hub's network "
                f"for {self.user.name}; remove it or change HUB_NAME",
            )
        return network

    async def _ensure_volume(self) -> None:
        try:
            await self.docker("inspect_volume", self.volume_name)
        except NotFound:
            # Created here (not implicitly by the mount) so that it carries our labels.
            await self.docker("create_volume", name=self.volume_name, labels=self._labels())
        self._volume_name = self.volume_name

    async def create_object(self) -> dict[str, Any]:
        host_config = docker_spec.host_config(self._resources)
        if "device_requests" in host_config:
            host_config["device_requests"] = [
                docker.types.DeviceRequest(**request) for request in host_config["device_requests"]
            ]
        configured = self.extra_host_config, self.extra_create_kwargs
        # Upstream merges these two hooks into what it creates; ours win over the
        # deployment's own for the keys we set (resources were checked, labels are ours).
        self.extra_host_config = _merged(configured[0], host_config)
        self.extra_create_kwargs = _merged(configured[1], {"labels": self._labels()})
        try:
            return await super().create_object()
        finally:
            self.extra_host_config, self.extra_create_kwargs = configured

    def get_env(self) -> dict[str, str]:
        env = dict(self._resources.env) if self._resources else {}
        configured = self.hub_connect_url
        if not configured and self._gateway:
            # Containers reach the host (where the hub listens) at their network's gateway;
            # the hub's own connect address (a hostname, or loopback for the proxy) is not
            # reachable from inside them. c.Spawner.hub_connect_url overrides this.
            api = urlparse(self.hub.api_url)
            port = api.port or (443 if api.scheme == "https" else 80)
            self.hub_connect_url = f"{api.scheme}://{self._gateway}:{port}"
        try:
            env.update(super().get_env())  # the hub's variables win over the user's
        finally:
            self.hub_connect_url = configured
        if self._resources:
            env["CPU_LIMIT"] = f"{self._resources.cpu:g}"
        return env

    async def pull_image(self, image: str) -> None:
        try:
            await super().pull_image(image)
        except APIError as error:
            raise _refusal(
                500,
                f"image {image} is not on the Docker engine and could not be pulled "
                f"({error.explanation}); build it with deploy/scripts/build-workspace-image.sh",
            ) from error

    async def stop(self, now: bool = False) -> None:
        if not self.object_id and not await self.get_object():
            self.clear_state()  # a start that failed before its container existed
            return
        await super().stop(now=now)

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
        mine = docker_spec.user_labels(self.hub_name, self.user.name)
        filters = {"label": docker_spec.label_filters(mine)}
        async with NETWORKS.removing(self.network_name) as no_start_needs_it:
            if not no_start_needs_it or await self.docker("containers", all=True, filters=filters):
                return
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
