"""Kubernetes mode: a new workspace takes a warm pool slot's pod instead of starting cold
(issue 26; the Docker side is spawners/docker_claim.py).

The portal claims a slot for a new workspace in its database and names it in the first
start's ``user_options`` (``pool_slot``; only the portal may start servers). The spawner:

1. reads the slot's pod and checks it is one of this hub's, still the pool's (it carries the
   pool's label), running, and of the very shape the pod of this start would have: image,
   requests and limits (Kubernetes 1.20 cannot change them on a running pod), security,
   mounts and placement (spawners/pool/kube_slot.py ``shape``);
2. relabels the slot's claim and pod with the person's labels and annotations and removes the
   pool's label: the pool's deny-all NetworkPolicy lets go of the pod and the person's policy
   takes it (where the network plugin enforces policies); kubespawner's reflector, cleanup
   and the person's policy now see it as this workspace;
3. makes the workspace's Service (the SSH gateway's way in), owned by the pod;
4. hands the server its identity (its command and variables: API token, OAuth client, URL
   prefix) through the pod exec API, on the exec's standard input (lib/pools.py
   CLAIM_FROM_STDIN): a channel only holders of the hub's service account can use (its Role
   grants ``pods/exec``). The waiter becomes the server.

The pod keeps the slot's name until the workspace's first stop (a pod cannot be renamed);
the next start makes a pod of the usual name on the slot's claim, which stays this
workspace's (its name is kept in the spawner's state). Any failure removes the slot (it is
never used twice) and the start goes on cold.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyterhub.utils import exponential_backoff, maybe_future
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.stream import WsApiClient
from kubernetes_asyncio.stream.ws_client import ERROR_CHANNEL, STDIN_CHANNEL
from kubespawner.objects import make_owner_reference

from lib import pools
from lib.labels import LABEL_ORIGIN
from spawners.naming import server_label
from spawners.pool import kube_slot
from spawners.pool.claim_steps import Steps, log_claimed, log_not_claimed, slot_named

MERGE_PATCH = "application/merge-patch+json"
# State key: the claim (PVC) of the slot this workspace was made from.
STATE_CLAIM = "mlhub_pool_claim"
EXEC_SECONDS = 60
# How long a relabelled pod may take to reach kubespawner's reflector (a watch event).
SEEN_SECONDS = 30


class ClaimsPoolPods:
    """Mixin for MLHubKubeSpawner (it provides ``api``, ``resources`` and the names)."""

    pool_claim = ""  # the slot's claim this workspace keeps its files on ("": its own)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.pool_claim:
            state[STATE_CLAIM] = self.pool_claim
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get(STATE_CLAIM):
            self.pool_claim = self.pvc_name = state[STATE_CLAIM]

    async def slot_claim(self) -> str | None:
        """This start on the slot its options name: where the server will answer; or None:
        start cold."""
        slot = slot_named(self)
        if not slot:
            return None
        steps = Steps()
        try:
            found = await self.api.read_namespaced_pod(slot, self.namespace)
        except ApiException as error:
            self.log.info(
                "%s: pool slot %s not found (%s); starting cold",
                server_label(self),
                slot,
                error.status,
            )
            return None
        pod = self.api.api_client.sanitize_for_serialization(found)
        usual = (self.pod_name, self.pvc_name)
        try:
            start = await self._start_pod()
            unfit = self._slot_unfit(pod, start)
            if unfit:
                raise ValueError(unfit)
            url = await self._slot_take(pod, start, steps)
        except Exception as error:  # any: the slot goes, the start goes on cold
            log_not_claimed(self, slot, error)
            self.pod_name, self.pvc_name = usual
            self.pool_claim = ""
            await self._slot_destroy(slot)
            return None
        log_claimed(self, slot, steps)
        return url

    async def _start_pod(self) -> dict[str, Any]:
        """The pod this start would make, as JSON (after the deployment's modify_pod_hook)."""
        pod = await self.get_pod_manifest()
        if self.modify_pod_hook:
            pod = await maybe_future(self.modify_pod_hook(self, pod))
        return self.api.api_client.sanitize_for_serialization(pod)

    def _slot_unfit(self, pod: dict[str, Any], start: dict[str, Any]) -> str:
        """Why this slot cannot be this start ("" when it can)."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_ORIGIN) != self.hub_name or pools.LABEL_POOL not in labels:
            return "not a waiting pool slot of this hub (claimed already?)"
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
            return "not running"
        if not self.get_pod_url or self.internal_ssl or self.after_pod_created_hook:
            return "the deployment connects through Services, internal TLS or its own hook"
        container = (start["spec"]["containers"] or [{}])[0]
        if any("valueFrom" in variable for variable in container.get("env") or []):
            return "this start takes variables from Secrets or fields, which a claim cannot hand"
        slot_shape = kube_slot.shape(pod, pools.volume_name(meta["name"]))
        start_shape = kube_slot.shape(start, self.pvc_name)
        different = kube_slot.differences(slot_shape, start_shape)
        if different:
            return f"its pod differs from this start's in: {', '.join(different)}"
        return ""

    async def _slot_take(self, pod: dict[str, Any], start: dict[str, Any], steps: Steps) -> str:
        """The claim itself: where the server answers (each step timed on ``steps``)."""
        step = steps.step
        name = pod["metadata"]["name"]
        claim = pools.volume_name(name)
        ours = self.get_pvc_manifest().metadata  # the person's labels, for the claim
        await asyncio.gather(
            self._relabel(
                self.api.patch_namespaced_persistent_volume_claim,
                claim,
                ours.labels,
                ours.annotations,
            ),
            self._relabel(
                self.api.patch_namespaced_pod,
                name,
                start["metadata"].get("labels") or {},
                start["metadata"].get("annotations") or {},
            ),
        )
        self.pod_name, self.pvc_name, self.pool_claim = name, claim, claim
        step("relabelled")
        await self._service_ensure(make_owner_reference(name, pod["metadata"]["uid"]))
        step("service")
        container = start["spec"]["containers"][0]
        identity = {
            "env": {v["name"]: v.get("value", "") for v in container.get("env") or []},
            # Empty where the start runs the image's own command: the waiter knows it.
            "command": [*(container.get("command") or []), *(container.get("args") or [])],
        }
        await self._identity_hand(name, json.dumps(identity))
        step("identity")
        await self.poll()  # kubespawner's own: starts its pod reflector (once per hub)
        key = f"{self.namespace}/{name}"
        await exponential_backoff(
            lambda: self._seen_as_ours(self.pod_reflector.pods.get(key)),
            f"pod {key} not seen relabelled",
            timeout=SEEN_SECONDS,
        )
        step("seen")
        return self.get_pod_url(self, self.pod_reflector.pods[key])

    def _seen_as_ours(self, pod: dict[str, Any] | None) -> bool:
        labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
        return pools.LABEL_POOL not in labels and bool((pod or {}).get("status", {}).get("podIP"))

    async def _relabel(self, patch, name: str, labels: dict, annotations: dict) -> None:
        body = {
            "metadata": {
                "labels": {**labels, pools.LABEL_POOL: None},
                "annotations": dict(annotations),
            }
        }
        await patch(name, self.namespace, body, _content_type=MERGE_PATCH)

    async def _service_ensure(self, owner) -> None:
        service = self.get_service_manifest(owner, self.port)
        try:
            await self.api.create_namespaced_service(self.namespace, service)
        except ApiException as error:
            if error.status != 409:
                raise
            # A Service of this name from an earlier pod of the workspace, not collected yet.
            await self.api.delete_namespaced_service(service.metadata.name, self.namespace)
            await self.api.create_namespaced_service(self.namespace, service)

    async def _identity_hand(self, pod: str, identity: str) -> None:
        """Run the waiter's claim in the pod with the identity on its standard input."""
        async with WsApiClient(configuration=self.api.api_client.configuration) as client:
            connecting = await CoreV1Api(client).connect_get_namespaced_pod_exec(
                pod,
                self.namespace,
                command=pools.CLAIM_FROM_STDIN,
                stdin=True,
                stdout=True,
                stderr=True,
                tty=False,
                _preload_content=False,
            )
            async with connecting as socket:
                await socket.send_bytes(bytes([STDIN_CHANNEL]) + identity.encode() + b"\n")
                output, status = await asyncio.wait_for(_exec_result(socket), EXEC_SECONDS)
        ended = json.loads(status) if status else {"message": "the exec ended without a status"}
        if ended.get("status") != "Success":
            why = output.strip() or ended.get("message", "")
            raise RuntimeError(f"the slot's waiter refused the claim: {why}")

    async def _slot_destroy(self, slot: str) -> None:
        for deleting, name, options in (
            (self.api.delete_namespaced_pod, slot, {"grace_period_seconds": 0}),
            (self.api.delete_namespaced_persistent_volume_claim, pools.volume_name(slot), {}),
        ):
            try:
                await deleting(name, self.namespace, **options)
            except ApiException as error:
                if error.status != 404:
                    self.log.warning(
                        "%s: could not remove slot %s: %s", server_label(self), name, error.reason
                    )


async def _exec_result(socket) -> tuple[str, bytes | None]:
    """The exec's output and its status (the error channel's JSON), once it ended."""
    output = b""
    async for message in socket:
        data = message.data if isinstance(message.data, bytes) else b""
        if not data:
            continue
        if data[0] == ERROR_CHANNEL:
            return output.decode(errors="replace"), data[1:]
        output += data[1:]
    return output.decode(errors="replace"), None
