"""A warm pool slot's Kubernetes objects, and what a claim compares, as pure functions.

A slot (lib/pools.py) is a pod of the template's image running the image's pool waiter, with
a claim (PVC) of its own at the work folder: the pod a workspace of the template's defaults
would be, without anyone's labels, variables or token. The pool's NetworkPolicy denies its
pods every connection in and out while they carry the pool's label; the claim removes that
label and gives the pod the person's, whose policy then applies (spawners/kube_claim.py).

Kubernetes 1.20 cannot change a running pod's resources, so a slot fits only a start that
asks exactly its template's defaults: ``shape`` is what must be equal between the slot's pod
and the pod the spawner would make for the start.
"""

from __future__ import annotations

from typing import Any

from lib import pools
from lib.labels import LABEL_ORIGIN
from lib.resources import kube_quantity
from spawners.cleanup.kube_backend import quantity
from spawners.kube_spec import (
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    WORK_VOLUME,
    cpu_quantity,
)

# What the API server adds to every pod (its DefaultTolerationSeconds admission).
DEFAULT_TOLERATIONS = [
    {
        "key": f"node.kubernetes.io/{condition}",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    for condition in ("not-ready", "unreachable")
]
# kubespawner's names for the server's container and port; the claim keeps them.
CONTAINER = "notebook"
PORT_NAME = "notebook-port"


def slot_pod(
    name: str,
    labels: dict[str, str],
    *,
    image: str,
    cpu: float,
    memory: int,
    work_dir: str,
    pull_policy: str,
    port: int = 8888,
) -> dict[str, Any]:
    """The slot's pod: requests equal limits (as a workspace's, kube_spec.resource_settings),
    the restricted security contexts, no service account token, no variables."""
    resources = {"cpu": cpu_quantity(cpu), "memory": kube_quantity(memory)}
    claim = pools.volume_name(name)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": dict(RESTRICTED_POD),
            "restartPolicy": "OnFailure",
            "containers": [
                {
                    "name": CONTAINER,
                    "image": image,
                    "imagePullPolicy": pull_policy,
                    "command": [pools.WAITER],
                    "args": [],
                    "ports": [{"name": PORT_NAME, "containerPort": port}],
                    "resources": {"limits": dict(resources), "requests": dict(resources)},
                    "securityContext": dict(RESTRICTED_CONTAINER),
                    "volumeMounts": [{"name": WORK_VOLUME, "mountPath": work_dir}],
                }
            ],
            "volumes": [{"name": WORK_VOLUME, "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


def slot_volume_claim(
    name: str, labels: dict[str, str], *, capacity: str, storage_class: str | None
) -> dict[str, Any]:
    """The slot's PersistentVolumeClaim (``pools.volume_name``), as a workspace's."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": capacity}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": pools.volume_name(name), "labels": dict(labels)},
        "spec": spec,
    }


def pool_policy(hub_name: str) -> dict[str, Any]:
    """The pool's NetworkPolicy: every pod of this hub with the pool's label gets no
    connection in or out (both types, no rule). Where the network plugin enforces policies."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": pools.network_name(hub_name),
            "labels": pools.network_labels(hub_name),
        },
        "spec": {
            "podSelector": {
                "matchLabels": {LABEL_ORIGIN: hub_name},
                "matchExpressions": [{"key": pools.LABEL_POOL, "operator": "Exists"}],
            },
            "policyTypes": ["Ingress", "Egress"],
        },
    }


def _amounts(values: dict[str, Any] | None) -> dict[str, float]:
    # The API server rewrites quantities ("0.5" as "500m", bytes as "512Mi"): compared as numbers.
    return {key: quantity(str(value)) for key, value in (values or {}).items()}


def _container_shape(container: dict[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    return {
        "name": container.get("name"),
        "image": container.get("image"),
        "limits": _amounts(resources.get("limits")),
        "requests": _amounts(resources.get("requests")),
        "securityContext": container.get("securityContext") or {},
        "workingDir": container.get("workingDir"),
        "volumeMounts": sorted(
            (mount.get("mountPath"), mount.get("name"), bool(mount.get("readOnly")))
            for mount in container.get("volumeMounts") or []
            # The service account's token, which the API server mounts itself.
            if not mount.get("mountPath", "").startswith("/var/run/secrets/kubernetes.io/")
        ),
    }


def _volume_shape(volume: dict[str, Any], claim: str) -> Any:
    source = {key: value for key, value in volume.items() if key != "name"}
    found = source.get("persistentVolumeClaim") or {}
    if found.get("claimName") == claim:  # the workspace's own claim: the slot's, or its new one
        return (volume.get("name"), "the workspace's claim")
    if "projected" in source and str(volume.get("name", "")).startswith("kube-api-access-"):
        return None  # the service account's token volume, added by the API server
    return (volume.get("name"), repr(sorted(source.items())))


def shape(pod: dict[str, Any], claim: str) -> dict[str, Any]:
    """What a claim needs equal between a slot's pod and the start's (camelCase JSON, as the
    API and kubespawner's reflector give it): the containers' images, resources, security and
    mounts; the pod's volumes (``claim``, its work claim, counts as any work claim), security,
    placement and token. Not its labels, variables or command: the claim brings those."""
    spec = pod.get("spec") or {}
    volumes = [_volume_shape(volume, claim) for volume in spec.get("volumes") or []]
    return {
        "containers": [_container_shape(c) for c in spec.get("containers") or []],
        "initContainers": [_container_shape(c) for c in spec.get("initContainers") or []],
        "volumes": sorted(volume for volume in volumes if volume is not None),
        "securityContext": spec.get("securityContext") or {},
        "automountServiceAccountToken": bool(spec.get("automountServiceAccountToken", True)),
        "tolerations": [t for t in spec.get("tolerations") or [] if t not in DEFAULT_TOLERATIONS],
        # The API server names the namespace's "default" account where a pod names none.
        "serviceAccountName": (spec.get("serviceAccountName") or "default"),
        **{
            key: spec.get(key) or None
            for key in (
                "nodeSelector",
                "affinity",
                "runtimeClassName",
                "priorityClassName",
                "hostNetwork",
            )
        },
    }


def differences(slot: dict[str, Any], start: dict[str, Any]) -> list[str]:
    """The parts of ``shape`` where the two differ (empty: the slot fits)."""
    return [key for key in start if slot.get(key) != start.get(key)]
