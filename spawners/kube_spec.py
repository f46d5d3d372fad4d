"""A workspace's Kubernetes objects and what its pod's status means, as pure functions.

No Kubernetes client import: the spawner hands these plain dicts and values to kubespawner
and the API, and the tests compare them with literal manifests and validate every object
against the Kubernetes 1.20 schema. Names and labels are the engine-neutral ones of
lib/labels.py.
"""

from __future__ import annotations

from typing import Any

from lib import labels as names
from lib.resources import WorkspaceResources, kube_quantity

WORK_VOLUME = "work"
SHM_VOLUME = "shm"
# The chart labels the hub's pod and the proxy's (templates/proxy.yaml) with these.
HUB_PEER = {
    "podSelector": {
        "matchExpressions": [
            {"key": "mlhub.component", "operator": "In", "values": ["hub", "proxy"]}
        ]
    }
}

# Kubernetes' "restricted" Pod Security Standard for workspace pods (the image's user is
# 1000, numeric, so the kubelet can check runAsNonRoot). Not a read-only root: Jupyter and
# the tools people install write beside their home.
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

# A container waiting for one of these will not start by waiting longer.
_WAITING_FAILURES = {
    "CrashLoopBackOff": "it keeps exiting",
    "ErrImagePull": "its image could not be pulled",
    "ImagePullBackOff": "its image could not be pulled",
    "ErrImageNeverPull": "its image is not on the node (imagePullPolicy Never)",
    "InvalidImageName": "its image name is not valid",
    "CreateContainerConfigError": "its container could not be configured",
    "CreateContainerError": "its container could not be created",
    "RunContainerError": "its container could not be run",
}


def resource_settings(resources: WorkspaceResources, gpu_resource: str) -> dict[str, Any]:
    """KubeSpawner's resource traits for this workspace. Requests equal limits: what a person
    was granted is reserved for them on the node, as Docker mode's limits are theirs alone."""
    gpus = {gpu_resource: str(resources.gpus)} if isinstance(resources.gpus, int) else {}
    return {
        "cpu_limit": float(resources.cpu),
        "cpu_guarantee": float(resources.cpu),
        # bytes: upstream's traits take no "Gi", and the pod then says exactly what was asked
        "mem_limit": resources.memory,
        "mem_guarantee": resources.memory,
        "extra_resource_limits": gpus,
        "extra_resource_guarantees": dict(gpus),
    }


def in_key_order(values: dict[str, Any] | list[Any]) -> list[Any]:
    """A kubespawner list setting given as a dict (so that config files can override one
    entry by its key): its values in key order, as kubespawner reads it. A list as it is."""
    return [values[key] for key in sorted(values)] if isinstance(values, dict) else list(values)


def pod_ip_url(spawner: Any, pod: dict[str, Any]) -> str:
    """Where the proxy reaches a workspace: its pod's IP (kubespawner's ``get_pod_url`` hook).
    No DNS lookup per request and no cluster DNS needed, as Zero to JupyterHub connects."""
    address = pod["status"]["podIP"]
    host = f"[{address}]" if ":" in address else address  # IPv6
    return f"http://{host}:{spawner.port}"


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes quantity: 2 -> "2", 0.5 -> "500m" (a JSON number like 0.5 is not
    a valid quantity in the API's schema)."""
    millicores = round(cores * 1000)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def quantities(requirements: dict[str, Any] | None) -> dict[str, Any] | None:
    """A container's requests or limits with cpu and memory as quantity strings."""
    if not requirements:
        return requirements
    found = dict(requirements)
    if isinstance(found.get("cpu"), (int, float)):
        found["cpu"] = cpu_quantity(found["cpu"])
    if isinstance(found.get("memory"), int):
        found["memory"] = kube_quantity(found["memory"])
    return found


def volumes(claim_name: str, shm_size: int | None) -> list[dict[str, Any]]:
    """The workspace's own claim, and /dev/shm sized as asked (charged to its memory)."""
    found: list[dict[str, Any]] = [
        {"name": WORK_VOLUME, "persistentVolumeClaim": {"claimName": claim_name}}
    ]
    if shm_size is not None:
        shm = {"medium": "Memory", "sizeLimit": kube_quantity(shm_size)}
        found.append({"name": SHM_VOLUME, "emptyDir": shm})
    return found


def volume_mounts(work_dir: str, shm_size: int | None) -> list[dict[str, Any]]:
    found = [{"name": WORK_VOLUME, "mountPath": work_dir}]
    if shm_size is not None:
        found.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    return found


def network_policy(
    hub_name: str, username: str, peers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One person's NetworkPolicy: their workspace pods accept connections only from their own
    pods and from `peers` (the hub and its proxy). Other people's pods are refused, where the
    cluster's network plugin enforces policies (Calico, Cilium; the bridge plugin does not)."""
    mine = names.user_labels(hub_name, username)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": names.network_name(hub_name, username),
            "labels": dict(mine),
            "annotations": names.annotations(username),
        },
        "spec": {
            "podSelector": {"matchLabels": dict(mine)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": dict(mine)}}, *(peers or [HUB_PEER])]}
            ],
        },
    }


def start_failure(pod: dict[str, Any] | None, gpu_resource: str) -> str | None:
    """Why this pod will not become ready by waiting longer, or None (still starting, or up).

    `pod` is the API's JSON (camelCase keys), as kubespawner's reflector keeps it. A volume
    claim that is not bound yet is not a failure here: a provisioner may take a while (the
    spawner gives it `volume_bind_timeout`).
    """
    if not pod:
        return None
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        return f"the pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        last = container.get("lastState") or {}
        ended = state.get("terminated") or last.get("terminated")
        if ended:
            reason = ended.get("reason") or "Error"
            code = ended.get("exitCode")
            said = f": {ended['message'].strip()}" if ended.get("message") else ""
            return f"the workspace exited while starting ({reason}, exit code {code}){said}"
        waiting = (state.get("waiting") or {}).get("reason")
        if waiting in _WAITING_FAILURES:
            detail = (state.get("waiting") or {}).get("message") or ""
            why = _WAITING_FAILURES[waiting]
            return f"the workspace cannot start: {why} ({waiting}) {detail}".strip()
    unschedulable = _unschedulable(status)
    if unschedulable and gpu_resource in unschedulable:
        return (
            f"no node has the GPUs asked for ({gpu_resource}): {unschedulable}; ask for fewer "
            "GPUs or none"
        )
    return None


def volume_unbound(pod: dict[str, Any] | None) -> str | None:
    """The scheduler's message when the pod waits for a volume claim to bind, else None."""
    message = _unschedulable((pod or {}).get("status") or {})
    if message and "unbound" in message.lower():
        return message
    return None


def unscheduled(pod: dict[str, Any] | None) -> str | None:
    """The scheduler's message when no node can take the pod for now (too little CPU or
    memory free, a taint), else None; a claim not bound yet is ``volume_unbound``'s."""
    message = _unschedulable((pod or {}).get("status") or {})
    if message and "unbound" not in message.lower():
        return message
    return None


def _unschedulable(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return condition.get("message") or "Unschedulable"
    return None
