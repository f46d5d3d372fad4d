"""Warm pool slots in Kubernetes: make them, see how they are, remove them (the portal's side;
the same methods as docker_pool.DockerPool).

A slot is a pod and its claim (spawners/pool/kube_slot.py) in the workspaces' namespace,
under the pool's NetworkPolicy, which denies the pool's pods every connection. The task
cluster calls these from sync code: each call runs on its own loop with its own client
(``kube_backend.run_sync``), as cleanup's do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, NetworkingV1Api
from kubernetes_asyncio.client.rest import ApiException

from lib import env, pools
from lib.labels import LABEL_ORIGIN
from spawners.cleanup.backend import EngineUnavailable
from spawners.cleanup.kube_backend import (
    CALL_ERRORS,
    NO_ANSWER,
    REQUEST_SECONDS,
    KubeBackend,
    reason_of,
    run_sync,
)
from spawners.kube_spec import start_failure
from spawners.pool import kube_slot
from spawners.pool.docker_pool import LOG_LINES, READY_LINE, SlotSpec, SlotState

# Slots ask for no GPU; a start failure that names one is not theirs.
GPU_RESOURCE = "nvidia.com/gpu"


class KubePool:
    def __init__(self, hub_name: str, namespace: str, config_file: str | None = None):
        self.hub_name = hub_name
        self.namespace = namespace
        self.cluster = KubeBackend(hub_name, namespace, config_file)

    def _call(self, coroutine, what: str):
        try:
            return run_sync(coroutine)
        except CALL_ERRORS as error:
            raise EngineUnavailable(f"{what}: {reason_of(error)}") from None

    # -- making -------------------------------------------------------------------------

    async def _policy_ensure(self, client: ApiClient) -> None:
        try:
            await NetworkingV1Api(client).create_namespaced_network_policy(
                self.namespace,
                kube_slot.pool_policy(self.hub_name),
                _request_timeout=REQUEST_SECONDS,
            )
        except ApiException as error:
            if error.status != 409:  # there already (another fill made it)
                raise

    async def _make(self, name: str, spec: SlotSpec) -> None:
        labels = pools.slot_labels(self.hub_name, spec.template)
        claim = kube_slot.slot_volume_claim(
            name,
            labels,
            capacity=env.env_str("MLHUB_K8S_STORAGE_CAPACITY", "10Gi"),
            storage_class=env.env_str("MLHUB_K8S_STORAGE_CLASS").strip() or None,
        )
        pod = kube_slot.slot_pod(
            name,
            labels,
            image=spec.image,
            cpu=spec.cpu,
            memory=spec.memory,
            work_dir=spec.work_dir,
            pull_policy=env.env_str("MLHUB_K8S_IMAGE_PULL_POLICY", "IfNotPresent"),
        )
        async with await self.cluster.client() as client:
            # The policy first: no moment where a slot's pod runs without it.
            await self._policy_ensure(client)
            core = CoreV1Api(client)
            await core.create_namespaced_persistent_volume_claim(
                self.namespace, claim, _request_timeout=REQUEST_SECONDS
            )
            await core.create_namespaced_pod(self.namespace, pod, _request_timeout=REQUEST_SECONDS)

    def make(self, name: str, spec: SlotSpec) -> None:
        """Create the slot ``name`` (the policy, its claim, its pod); what was made is removed
        if a step fails."""
        try:
            run_sync(self._make(name, spec))
        except CALL_ERRORS as error:
            self.remove(name)
            reason = reason_of(error)
            raise EngineUnavailable(f"could not make pool slot {name}: {reason}") from None

    # -- seeing -------------------------------------------------------------------------

    async def _states(self, names: list[str], ready: frozenset[str]) -> dict[str, SlotState]:
        async with await self.cluster.client() as client:
            core = CoreV1Api(client)
            listed = await core.list_namespaced_pod(
                self.namespace,
                label_selector=f"{LABEL_ORIGIN}={self.hub_name},{pools.LABEL_POOL}",
                _request_timeout=REQUEST_SECONDS,
            )
            pods = {
                pod.metadata.name: client.sanitize_for_serialization(pod) for pod in listed.items
            }
            wanted = [name for name in names if name in pods and name not in ready]
            logs = await asyncio.gather(*(self._log(core, name) for name in wanted))
        found = dict(zip(wanted, logs, strict=True))
        return {name: self._state(name, pods.get(name), found.get(name), ready) for name in names}

    async def _log(self, core: CoreV1Api, name: str) -> str:
        try:
            return await core.read_namespaced_pod_log(
                name, self.namespace, tail_lines=LOG_LINES, _request_timeout=REQUEST_SECONDS
            )
        except ApiException:  # no container started yet: nothing to read
            return ""

    @staticmethod
    def _state(name: str, pod: dict[str, Any] | None, log: str | None, ready) -> SlotState:
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return SlotState(name, "gone")
        failure = start_failure(pod, gpu_resource=GPU_RESOURCE)
        if failure:
            return SlotState(name, "failed", f"{failure}: {(log or '').strip()}".strip(": "))
        if (pod.get("status") or {}).get("phase") != "Running":
            return SlotState(name, "warming")  # scheduled, pulling, its claim binding
        if name in ready or READY_LINE.decode() in (log or ""):
            return SlotState(name, "ready")
        return SlotState(name, "warming")

    def states(self, names: list[str], *, ready: frozenset[str] = frozenset()) -> dict:
        """{name: SlotState} for each named slot: one listing of the pool's pods, then the
        last lines of those not known ``ready`` (the waiter says when its imports are done)."""
        if not names:
            return {}
        return self._call(self._states(names, ready), NO_ANSWER)

    # -- removing -----------------------------------------------------------------------

    async def _remove(self, name: str) -> None:
        async with await self.cluster.client() as client:
            core = CoreV1Api(client)
            for deleting, object_name, options in (
                (core.delete_namespaced_pod, name, {"grace_period_seconds": 0}),
                (core.delete_namespaced_persistent_volume_claim, pools.volume_name(name), {}),
            ):
                try:
                    await deleting(
                        object_name, self.namespace, _request_timeout=REQUEST_SECONDS, **options
                    )
                except ApiException as error:
                    if error.status != 404:
                        raise

    def remove(self, name: str) -> None:
        """Remove the slot's pod (at once: it holds nobody's work) and its claim; what is gone
        already counts as removed."""
        self._call(self._remove(name), f"could not remove pool slot {name}")
