"""What a workspace may ask for, the same in Docker and Kubernetes mode: one spawner mixin.

Both engine spawners take their resources (image, cpu, memory, gpus, shm, env), expiry and the
owner's SSH public keys from `user_options`, checked against this hub's limits with
lib.resources, so a client that skips the portal is refused too. The limits are traits set
from the environment (MLHUB_*) or the hub's config; the upstream settings they replace are
refused at hub start (`refuse_replaced_settings`), never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado import web
from traitlets import Bool, Float, Int, List, TraitError, Unicode, Union, default, validate
from traitlets.config import Config, LoggingConfigurable

from lib import env
from lib.resources import (
    SSH_KEYS_ENV,
    Limits,
    ResourceError,
    WorkspaceResources,
    parse_expires_at,
    parse_memory,
    parse_ssh_keys,
    resources_from_options,
)

DEFAULT_IMAGE = env.DEFAULT_IMAGE
# Lines of a workspace's log shown to the person when it died while starting.
START_LOG_LINES = 20

# Upstream settings MLHub sets itself from the checked options, with what to use instead.
_RESOURCES = "MLHub sets it from each workspace's checked options"
REPLACED_SETTINGS = {
    "cpu_limit": f"{_RESOURCES}; limit with cpu_max / MLHUB_CPU_MAX, default with default_cpu",
    "cpu_guarantee": f"{_RESOURCES}; limit with cpu_max / MLHUB_CPU_MAX",
    "mem_limit": f"{_RESOURCES}; limit with memory_max / MLHUB_MEMORY_MAX, default with "
    "default_memory",
    "mem_guarantee": f"{_RESOURCES}; limit with memory_max / MLHUB_MEMORY_MAX",
    "image": "the images people may run are workspace_images / MLHUB_WORKSPACE_IMAGES, the "
    "first is the default",
    "allowed_images": "the allow-list is workspace_images / MLHUB_WORKSPACE_IMAGES",
    "name_template": "MLHub names containers itself (lib/labels.py): cleanup and per-person "
    "isolation rely on those names",
    "pod_name_template": "MLHub names pods itself (lib/labels.py): cleanup and per-person "
    "isolation rely on those names",
    "pvc_name_template": "MLHub names volume claims itself (lib/labels.py)",
}


def refuse_replaced_settings(config: Config, spawner_class: type) -> None:
    """Raise ConfigError when the hub's config sets an upstream setting MLHub replaces, under
    any section the spawner reads (c.Spawner, c.DockerSpawner, c.KubeSpawner, ours)."""
    sections = {cls.__name__ for cls in spawner_class.mro()}
    for section in sorted(sections & set(config)):
        for name in sorted(set(config[section]) & set(REPLACED_SETTINGS)):
            if name in spawner_class.class_trait_names():
                raise env.ConfigError(
                    f"c.{section}.{name} is not used by MLHub: {REPLACED_SETTINGS[name]} "
                    "(docs/configuration.md)"
                )


def refusal(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose message the hub relays as is: in the API's error JSON, and as
    "Spawn failed: <message>" in the progress stream (when the start answered 202 first)."""
    error = web.HTTPError(status, message)
    error.jupyterhub_message = message
    return error


class WorkspaceOptions(LoggingConfigurable):
    """Spawner mixin (before the upstream spawner in the bases)."""

    hub_name = Unicode(
        help="""This hub's name (HUB_NAME, 1-5 DNS characters): prefix of every object it
        creates and the value of their `mlhub.origin` label. Default: env HUB_NAME or
        "mlhub".""",
    ).tag(config=True)

    workspace_images = List(
        Unicode(),
        help=f"""Images users may run (the seed's `c.Spawner.workspace_images`); the first is
        the default. Default: env MLHUB_WORKSPACE_IMAGES (comma-separated) or
        the image {env.DEFAULT_IMAGE}.""",
    ).tag(config=True)

    cpu_max = Float(
        help="Most cores one workspace may ask for. Default: env MLHUB_CPU_MAX or all cores.",
    ).tag(config=True)

    memory_max = Union(
        [Int(), Unicode()],
        help="""Most memory one workspace may ask for: bytes or "8G" (binary units: 8G = 8Gi).
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
        help="Most GPUs one workspace may ask for; 0 = no GPU. Default: env MLHUB_GPUS_MAX or 0.",
    ).tag(config=True)

    allow_all_gpus = Bool(
        help="""Whether gpus="all" (every GPU of the host, whatever gpus_max says) is allowed.
        Docker only. Default: env MLHUB_ALLOW_ALL_GPUS=1 or False.""",
    ).tag(config=True)

    work_dir = Unicode(
        "/home/jovyan/work",
        help="""Folder in the workspace where its volume is mounted; the only place whose
        files survive a stop. It is also the Jupyter root folder.""",
    ).tag(config=True)

    # Docker lets a workspace name GPU device indices; Kubernetes takes a count only.
    gpu_ids_allowed = True

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
        return env.cpu_max()

    @default("memory_max")
    def _default_memory_max(self) -> int:
        return env.memory_max()

    @default("default_cpu")
    def _default_default_cpu(self) -> float:
        return env.env_parsed("MLHUB_DEFAULT_CPU", float, 0.0)

    @default("default_memory")
    def _default_default_memory(self) -> int:
        return env.env_parsed("MLHUB_DEFAULT_MEMORY", parse_memory, 0)

    @default("gpus_max")
    def _default_gpus_max(self) -> int:
        return env.gpus_max()

    @default("allow_all_gpus")
    def _default_allow_all_gpus(self) -> bool:
        return env.env_bool("MLHUB_ALLOW_ALL_GPUS")

    @default("notebook_dir")
    def _default_notebook_dir(self) -> str:
        return self.work_dir

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Callable[[Any, dict[str, Any]], None]:
        # user_options are checked and applied in start(): an HTTPError raised there reaches
        # the client as is and is logged without a traceback. This no-op only tells the hub
        # they are handled (it warns about unhandled user_options otherwise).
        return lambda spawner, options: None

    _resources: WorkspaceResources | None = None
    _expires_at: int = 0
    _ssh_keys: tuple[str, ...] = ()

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
                gpu_ids=self.gpu_ids_allowed,
            )
        except (ResourceError, env.ConfigError) as error:
            raise refusal(500, f"MLHub spawner configuration: {error}") from error

    def check_options(
        self, options: dict[str, Any]
    ) -> tuple[WorkspaceResources, int, tuple[str, ...]]:
        """Resources, expiry and SSH keys from user_options, or a 400 whose message the hub
        relays."""
        try:
            resources = resources_from_options(options, self.limits)
            given = options or {}
            return (
                resources,
                parse_expires_at(given.get("expires_at")),
                parse_ssh_keys(given.get("ssh_keys")),
            )
        except ResourceError as error:
            raise refusal(400, str(error)) from error

    @property
    def resources(self) -> WorkspaceResources:
        """This workspace's checked resources: from the current start, or, for an upstream
        method called on its own (create_object, get_pod_manifest), from user_options now."""
        if self._resources is None:
            self._resources, self._expires_at, self._ssh_keys = self.check_options(
                self.user_options
            )
        return self._resources

    def options_apply(self) -> WorkspaceResources:
        """Check this start's user_options again (they may have changed since the last)."""
        self._resources, self._expires_at, self._ssh_keys = self.check_options(self.user_options)
        return self._resources

    def ssh_env(self) -> dict[str, str]:
        """The owner's SSH public keys for the image's own sshd (deploy/workspace/start.sh),
        one a line; nothing when they have none (the image then starts no sshd). Users cannot
        set or shadow it: MLHUB_* is reserved in `env`."""
        return {SSH_KEYS_ENV: "\n".join(self._ssh_keys)} if self._ssh_keys else {}
