"""Docker-only parts of a workspace's objects, as pure functions: label filters, GPU device
requests and host config. Names and labels are the engine-neutral ones of lib/labels.py.

No Docker import: the spawner turns these plain values into docker SDK calls, and the tests
compare them with literal dicts (kubespawner's objects.py is the model).
"""

from __future__ import annotations

from typing import Any

from lib import labels as names
from lib.resources import WorkspaceResources


def docker_labels(hub_name: str, username: str, server_name: str, expires_at: int) -> dict:
    """A workspace's labels plus its raw owner name (Docker has no annotations)."""
    return {
        **names.labels(hub_name, username, server_name, expires_at),
        **names.annotations(username),
    }


def docker_user_labels(hub_name: str, username: str) -> dict[str, str]:
    """A person's network's labels plus their raw name."""
    return {**names.user_labels(hub_name, username), **names.annotations(username)}


def surplus_networks(networks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of networks that share a name (a network listing's entries), those to remove: all but
    the oldest (then the smallest Id). Docker's duplicate check is not atomic, so two makers
    at once (the hub's start and the portal's fill, two fills) can make one name twice, and
    every later use of the name is "ambiguous". Each maker that finds them removes the same
    surplus, the empty ones (the engine refuses the others)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for network in networks:
        by_name.setdefault(network["Name"], []).append(network)
    surplus = []
    for same in by_name.values():
        same.sort(key=lambda network: (network.get("Created", ""), network["Id"]))
        surplus += same[1:]
    return surplus


def label_filters(labels_: dict[str, str]) -> list[str]:
    """`labels` as docker API filters: {"label": label_filters(...)} matches all of them."""
    return [f"{key}={value}" for key, value in labels_.items()]


def device_requests(gpus: str | tuple[str, ...] | list[str] | int | None) -> list[dict[str, Any]]:
    """GPUs as Docker API DeviceRequest dicts (the spawner wraps them in docker.types)."""
    if not gpus:
        return []
    request: dict[str, Any] = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
    if gpus == "all":
        request["Count"] = -1
    elif isinstance(gpus, int):
        request["Count"] = gpus
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
        # Upstream removes a container as it exits (auto_remove, with remove=True): a server
        # that died while starting would take its exit code and last lines with it. The hub's
        # stop removes it instead (remove=True still), after the person was told why.
        "auto_remove": False,
    }
    if resources.shm_size is not None:
        config["shm_size"] = resources.shm_size
    requests = device_requests(resources.gpus)
    if requests:
        config["device_requests"] = requests
    return config
