"""Names, labels and host config of a workspace's Docker objects, as pure functions.

No Docker import: the spawner turns these plain values into docker SDK calls, and the tests
compare them with literal dicts (kubespawner's objects.py is the model).

Names are `<hub>-<user>` (network) and `<hub>-<user>--<server>` (container; volume adds
`-work`). Each part is kept as typed when it is a plain DNS label and replaced by
`<slug>-x<16 hex of sha256>` otherwise, so names stay DNS-safe (63 characters at most) and
two different users or servers can never share a name, which would share a network.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from lib.env import check_hub_name
from spawners.resources import WorkspaceResources

LABEL_ORIGIN = "mlhub.origin"
LABEL_USER = "mlhub.user"
LABEL_SERVER_NAME = "mlhub.server_name"
LABEL_EXPIRES_AT = "mlhub.expires_at"

# A part kept as typed: lowercase DNS label characters, no "--" (the user/server separator),
# and not ending like a hashed part (so a user cannot pick another user's hashed name).
_PLAIN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_HASHED_SUFFIX = re.compile(r"(^|-)x[0-9a-f]{16}$")
# hub (5) + "-" + user (25) + "--" + server (30) = 63, the DNS label limit.
USER_PART_MAX = 25
SERVER_PART_MAX = 30


def safe_part(text: str, max_length: int) -> str:
    """`text` if it is a plain DNS label of at most max_length, else slug + hash (injective)."""
    if len(text) <= max_length and _PLAIN.match(text) and not _HASHED_SUFFIX.search(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[: max_length - 18].strip("-")
    return f"{slug}-x{digest}" if slug else f"x{digest}"


def network_name(hub_name: str, username: str) -> str:
    return f"{check_hub_name(hub_name)}-{safe_part(username, USER_PART_MAX)}"


def container_name(hub_name: str, username: str, server_name: str) -> str:
    """`mlhub-alice--ws1`; the default (unnamed) server is `mlhub-alice`."""
    base = network_name(hub_name, username)
    if not server_name:
        return base
    return f"{base}--{safe_part(server_name, SERVER_PART_MAX)}"


def volume_name(hub_name: str, username: str, server_name: str) -> str:
    return f"{container_name(hub_name, username, server_name)}-work"


def labels(hub_name: str, username: str, server_name: str, expires_at: int) -> dict[str, str]:
    """Labels on every object we create; cleanup deletes only what carries its own origin."""
    return {
        LABEL_ORIGIN: check_hub_name(hub_name),
        LABEL_USER: username,
        LABEL_SERVER_NAME: server_name,
        LABEL_EXPIRES_AT: str(int(expires_at)),  # epoch seconds, 0 = never
    }


def user_labels(hub_name: str, username: str) -> dict[str, str]:
    """Labels of the per-user network, which outlives any one workspace."""
    return {LABEL_ORIGIN: check_hub_name(hub_name), LABEL_USER: username}


def label_filters(labels_: dict[str, str]) -> list[str]:
    """`labels` as docker API filters: {"label": label_filters(...)} matches all of them."""
    return [f"{key}={value}" for key, value in labels_.items()]


def device_requests(gpus: str | tuple[str, ...] | list[str] | None) -> list[dict[str, Any]]:
    """GPUs as Docker API DeviceRequest dicts (the spawner wraps them in docker.types)."""
    if not gpus:
        return []
    request: dict[str, Any] = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
    if gpus == "all":
        request["Count"] = -1
    else:
        request["DeviceIDs"] = list(gpus)
    return [request]


def host_config(resources: WorkspaceResources) -> dict[str, Any]:
    """Keyword arguments for docker's create_host_config."""
    config: dict[str, Any] = {
        "nano_cpus": round(resources.cpu * 1e9),
        "mem_limit": resources.memory,
        # Same as mem_limit: no swap on top, so "memory" means what the user was granted
        # (Docker's default lets a container swap as much again).
        "memswap_limit": resources.memory,
        # tini as PID 1 forwards SIGTERM, so a stop is instant instead of the 10 s timeout.
        "init": True,
    }
    if resources.shm_size is not None:
        config["shm_size"] = resources.shm_size
    requests = device_requests(resources.gpus)
    if requests:
        config["device_requests"] = requests
    return config
