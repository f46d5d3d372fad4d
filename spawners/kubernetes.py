"""Kubernetes mode (EXECUTION_MODE=k8s): workspaces as pods in one namespace.

A thin KubeSpawner subclass, with the same options and checks as Docker mode
(spawners/options.py). What it adds to upstream:
- the pod's requests and limits (and a GPU count, resource name `gpu_resource`) from the
  checked options; the image from the allow-list;
- MLHub's names and `mlhub.*` labels (lib/labels.py) on the pod, its Service and its claim,
  the raw username in an annotation; cleanup lists by them;
- one PersistentVolumeClaim per workspace at `work_dir`, kept across stop, deleted with the
  workspace (upstream keeps a literal claim name of a named server);
- a Service per workspace (upstream's, owned by the pod), while the proxy connects to the
  pod's IP as Zero to JupyterHub does (`connect_to_service` to use the Service);
- a NetworkPolicy per person: their pods accept connections from their own pods and the hub;
- a start that cannot succeed (the container exits, its image is missing, no node has the
  GPUs, the claim does not bind) fails within seconds with the cause and the last log lines,
  and leaves nothing behind that this start created.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from jupyterhub.utils import exponential_backoff
from kubernetes_asyncio.client import V1ServicePort
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Bool, Dict, Float, Instance, Int, List, Unicode, default

from lib import env
from lib import labels as names
from spawners import kube_spec
from spawners.kube_claim import ClaimsPoolPods
from spawners.lasting import Lasting
from spawners.naming import server_label
from spawners.options import DEFAULT_IMAGE, START_LOG_LINES, WorkspaceOptions, refusal
from spawners.private_kubespawner import forget_claim
from spawners.readiness import ReadyWhenListening
from spawners.state_reports import ReportsState


class StartFailed(Exception):
    """The pod will not become ready by waiting longer; the message says why."""


def _api_message(error: ApiException) -> str:
    """The API server's own message (quota exceeded, invalid object), never its whole body."""
    try:
        return json.loads(error.body or "{}").get("message") or str(error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


def _escape_braces(values: dict[str, str]) -> dict[str, str]:
    # kubespawner formats extra labels and annotations as templates ("{username}").
    return {key: value.replace("{", "{{").replace("}", "}}") for key, value in values.items()}


class MLHubKubeSpawner(
    ClaimsPoolPods, WorkspaceOptions, ReportsState, ReadyWhenListening, KubeSpawner
):
    gpu_ids_allowed = False  # Kubernetes assigns GPUs: a workspace asks for a count

    gpu_resource = Unicode(
        help="""The extended resource a GPU is on the nodes (the device plugin's name).
        Default: env MLHUB_K8S_GPU_RESOURCE or nvidia.com/gpu.""",
    ).tag(config=True)

    network_policy_peers = List(
        Dict(),
        help="""NetworkPolicy peers (besides the person's own pods) that may connect to a
        person's workspaces: the hub and its proxy. Default: pods labelled
        mlhub.component hub or proxy, as the Helm chart labels them.""",
    ).tag(config=True)

    volume_bind_timeout = Float(
        help="""Seconds a new workspace waits for its volume claim to bind before the start
        fails with the scheduler's reason (a storage class that does not exist never binds).
        Default: env MLHUB_K8S_VOLUME_BIND_SECONDS or 60.""",
    ).tag(config=True)

    schedule_timeout = Float(
        help="""Seconds a starting workspace waits for a node with room for it (CPU, memory
        free) before the start fails with the scheduler's reason; a cluster autoscaler may add
        a node meanwhile. Default: env MLHUB_K8S_SCHEDULE_SECONDS or 90.""",
    ).tag(config=True)

    @default("schedule_timeout")
    def _default_schedule_timeout(self) -> float:
        return float(env.env_int_at_least("MLHUB_K8S_SCHEDULE_SECONDS", 90, 1))

    @default("pod_security_context")
    def _default_pod_security_context(self) -> dict[str, Any]:
        return dict(kube_spec.RESTRICTED_POD)

    @default("container_security_context")
    def _default_container_security_context(self) -> dict[str, Any]:
        return dict(kube_spec.RESTRICTED_CONTAINER)

    @default("volume_bind_timeout")
    def _default_volume_bind_timeout(self) -> float:
        return float(env.env_int_at_least("MLHUB_K8S_VOLUME_BIND_SECONDS", 60, 1))

    ssh_port = Int(
        help="""The port of the sshd in the workspace image, published on its Service for
        the SSH gateway. Default: env MLHUB_WORKSPACE_SSH_PORT or 2222.""",
    ).tag(config=True)

    @default("ssh_port")
    def _default_ssh_port(self) -> int:
        return env.env_int("MLHUB_WORKSPACE_SSH_PORT", 2222)

    connect_to_service = Bool(
        False,
        help="""Whether the proxy reaches a workspace through its Service's DNS name instead
        of the pod's IP (the default, as Zero to JupyterHub; needs cluster DNS).""",
    ).tag(config=True)

    @default("gpu_resource")
    def _default_gpu_resource(self) -> str:
        return env.env_str("MLHUB_K8S_GPU_RESOURCE", "nvidia.com/gpu").strip() or "nvidia.com/gpu"

    @default("network_policy_peers")
    def _default_network_policy_peers(self) -> list[dict[str, Any]]:
        return [kube_spec.HUB_PEER]

    # Upstream traits with MLHub defaults.
    @default("namespace")
    def _default_namespace(self) -> str:
        return env.k8s_namespace()

    @default("image")
    def _default_image(self) -> str:
        return self.workspace_images[0] if self.workspace_images else DEFAULT_IMAGE

    @default("image_pull_policy")
    def _default_image_pull_policy(self) -> str:
        return env.env_str("MLHUB_K8S_IMAGE_PULL_POLICY", "IfNotPresent")

    @default("pod_name_template")
    def _default_pod_name_template(self) -> str:
        # A literal name (no "{...}"): upstream's template expansion leaves it as it is.
        return self.usual_name

    @property
    def usual_name(self) -> str:
        """The workspace's pod and Service name (lib/labels.py; the SSH gateway's host)."""
        return names.container_name(self.hub_name, self.user.name, self.name or "")

    @default("pvc_name_template")
    def _default_pvc_name_template(self) -> str:
        return names.volume_name(self.hub_name, self.user.name, self.name or "")

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self) -> bool:
        return True

    @default("storage_capacity")
    def _default_storage_capacity(self) -> str:
        return env.env_str("MLHUB_K8S_STORAGE_CAPACITY", "10Gi")

    @default("storage_class")
    def _default_storage_class(self) -> str | None:
        return env.env_str("MLHUB_K8S_STORAGE_CLASS").strip() or None

    @default("services_enabled")
    def _default_services_enabled(self) -> bool:
        return True

    @default("get_pod_url")
    def _default_get_pod_url(self):
        # Upstream connects to the Service's DNS name whenever Services are made; we make them
        # (the SSH gateway's way in) but connect to the pod's IP. Upstream's own choice when the
        # deployment asks for the Service, TLS inside the cluster, or its own connect address.
        if self.connect_to_service or self.internal_ssl or self.pod_connect_ip:
            return None
        return kube_spec.pod_ip_url

    _configured: dict[str, Any] | None = None
    _starting_since: float | None = None
    # Since when the starting pod's claim has not bound, and since when no node took it.
    _unbound = Instance(Lasting, args=())
    _unscheduled = Instance(Lasting, args=())

    def _apply_resources(self) -> None:
        """Set upstream's traits from this workspace's checked options (and ours on top of
        the deployment's own labels, annotations and volumes)."""
        if self._configured is None:
            self._configured = {
                key: getattr(self, key)
                for key in (
                    "extra_labels",
                    "storage_extra_labels",
                    "extra_annotations",
                    "storage_extra_annotations",
                    "volumes",
                    "volume_mounts",
                )
            }
        resources = self.resources
        self.image = resources.image
        for key, value in kube_spec.resource_settings(resources, self.gpu_resource).items():
            setattr(self, key, value)
        ours = names.labels(self.hub_name, self.user.name, self.name or "", self._expires_at)
        ours = _escape_braces(ours)
        self.extra_labels = {**self._configured["extra_labels"], **ours}
        self.storage_extra_labels = {**self._configured["storage_extra_labels"], **ours}
        # Pod, Service and claim all get the raw owner name (kept as typed: kubespawner
        # expands "{...}" in these too): cleanup reads it on each.
        owner = _escape_braces(names.annotations(self.user.name))
        self.extra_annotations = {**self._configured["extra_annotations"], **owner}
        self.storage_extra_annotations = {
            **self._configured["storage_extra_annotations"],
            **owner,
        }
        self.volumes = [
            *kube_spec.in_key_order(self._configured["volumes"]),
            *kube_spec.volumes(self.pvc_name, resources.shm_size),
        ]
        self.volume_mounts = [
            *kube_spec.in_key_order(self._configured["volume_mounts"]),
            *kube_spec.volume_mounts(self.work_dir, resources.shm_size),
        ]

    async def get_pod_manifest(self):
        self._apply_resources()  # also when called on its own, without start()
        pod = await super().get_pod_manifest()
        for container in pod.spec.containers:
            if container.resources:
                container.resources.limits = kube_spec.quantities(container.resources.limits)
                container.resources.requests = kube_spec.quantities(container.resources.requests)
        return pod

    def get_pvc_manifest(self):
        self._apply_resources()
        return super().get_pvc_manifest()

    def get_env(self) -> dict[str, str]:
        # The owner's public keys for the image's own sshd (deploy/workspace/start.sh).
        return {**super().get_env(), **self.ssh_env()}

    def get_service_manifest(self, owner_reference, port):
        # The SSH gateway reaches the workspace's sshd through its Service, as the proxy
        # may (lib/labels.py names both the same).
        service = super().get_service_manifest(owner_reference, port)
        # By the workspace's name, also while its pod keeps a warm slot's (kube_claim.py).
        service.metadata.name = self.usual_name
        service.spec.ports.append(
            V1ServicePort(name="ssh", port=self.ssh_port, target_port=self.ssh_port)
        )
        return service

    def _check_names(self) -> None:
        # A Service's name must start with a letter (DNS-1035); ours start with HUB_NAME.
        if not self.hub_name[0].isalpha():
            raise refusal(
                500,
                f"HUB_NAME={self.hub_name!r} must start with a letter in Kubernetes mode: "
                "workspace Services are named after it",
            )

    async def start(self):
        self.options_apply()
        self._check_names()
        self._apply_resources()
        claim_existed = await self._claim_exists()
        policy_made = False
        began = time.perf_counter()
        try:
            policy_made = await self._ensure_network_policy()
            self._starting_since = time.monotonic()
            self._unbound, self._unscheduled = Lasting(), Lasting()
            # A warm slot only for a workspace that never had a claim: a later start keeps
            # its own files.
            claimed = None if claim_existed else await self.slot_claim()
            if claimed:
                return await self.ready_when_listening(claimed, began)
            return await super().start()
        except StartFailed as failure:
            message = f"{failure}{await self._last_log_lines()}"
        except ApiException as error:
            message = f"the Kubernetes API refused the workspace: {_api_message(error)}"
        finally:
            self._starting_since = None
        self.log.warning("%s could not start: %s", server_label(self), message)
        await self._remove_what_this_start_made(claim_existed, policy_made)
        raise refusal(500, message)

    async def _still_starting(self) -> bool:
        """Asked while the server does not listen yet (``ReadyWhenListening``): a pod that
        will not start raises StartFailed, which ``start`` reports and cleans up after. A
        container can be seen running for a moment and then exit (a wrong command): the
        hub's own check would wait its whole ``http_timeout`` for it."""
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        if pod is None:
            raise StartFailed("the workspace's pod was removed while it started")
        self.is_pod_running(pod)  # raises StartFailed when it will not become ready
        return True

    async def get_url(self) -> str:
        """Where the running pod answers: upstream's hook for a hub that restarts while a start
        was under way (its record then holds an address from before the pod had one; see
        spawners/docker.py). The pod's address by the same ``get_pod_url`` as a start."""
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        if pod is None or not (pod.get("status") or {}).get("podIP") or not self.get_pod_url:
            return await super().get_url()
        return self.get_pod_url(self, pod) + self.server.base_url

    def is_pod_running(self, pod: dict[str, Any] | None) -> bool:
        if self._starting_since is not None:  # only while starting: poll() uses this too
            failure = kube_spec.start_failure(pod, self.gpu_resource)
            failure = failure or self._claim_not_binding(pod) or self._not_scheduled(pod)
            if failure:
                raise StartFailed(failure)
        return super().is_pod_running(pod)

    def _claim_not_binding(self, pod: dict[str, Any] | None) -> str | None:
        message = kube_spec.volume_unbound(pod)
        if not self._unbound.longer_than(message, self.volume_bind_timeout):
            return None
        storage = self.storage_class or "the cluster's default"
        return (
            f"the workspace's volume claim {self.pvc_name} did not bind in "
            f"{self.volume_bind_timeout:g} s ({message}); check the storage class ({storage}, "
            "MLHUB_K8S_STORAGE_CLASS) and that it can provision volumes"
        )

    def _not_scheduled(self, pod: dict[str, Any] | None) -> str | None:
        message = kube_spec.unscheduled(pod)
        if not self._unscheduled.longer_than(message, self.schedule_timeout):
            return None
        return (
            f"no node had room for the workspace in {self.schedule_timeout:g} s ({message}); "
            "ask for less CPU or memory, stop another workspace, or ask an admin for more nodes"
        )

    async def _last_log_lines(self) -> str:
        """The container's last lines (of its previous run when it restarted), or ""."""
        for previous in (True, False):
            try:
                text = await self.api.read_namespaced_pod_log(
                    self.pod_name, self.namespace, tail_lines=START_LOG_LINES, previous=previous
                )
            except (TimeoutError, ApiException):
                continue
            if text and text.strip():
                return f". Its last lines:\n{text.rstrip()}"
        return ""

    async def _remove_what_this_start_made(self, claim_existed: bool, policy_made: bool) -> None:
        try:
            await self.stop(now=True)
        except Exception as error:  # reported in the log; the cause is what the person sees
            self.log.warning("%s: removing its pod failed: %s", server_label(self), error)
        if not claim_existed and await self._claim_exists():
            await self._delete_claim()
            # Upstream remembers it made the claim and would not make it again next start.
            forget_claim(self)
        if policy_made:
            await self._remove_network_policy_if_unused()

    @property
    def _networking(self):
        return shared_client("NetworkingV1Api")

    async def _ensure_network_policy(self) -> bool:
        """Create the person's policy; True if this call made it."""
        policy = kube_spec.network_policy(self.hub_name, self.user.name, self.network_policy_peers)
        try:
            await self._networking.create_namespaced_network_policy(self.namespace, policy)
        except ApiException as error:
            if error.status != 409:
                raise
            # The name is taken: theirs already (another workspace of theirs made it), or
            # someone else's policy, which could let other pods in: then refuse.
            name = policy["metadata"]["name"]
            found = await self._networking.read_namespaced_network_policy(name, self.namespace)
            labels, annotations = found.metadata.labels or {}, found.metadata.annotations or {}
            if (
                labels.get(names.LABEL_ORIGIN) != self.hub_name
                or names.owner_of(labels, annotations) != self.user.name
            ):
                raise refusal(
                    500,
                    f"Kubernetes NetworkPolicy {name} exists but is not this hub's policy for "
                    f"{self.user.name}; remove it or change HUB_NAME",
                ) from None
            return False
        return True

    async def _remove_network_policy_if_unused(self) -> None:
        mine = names.user_labels(self.hub_name, self.user.name)
        selector = ",".join(f"{key}={value}" for key, value in mine.items())
        claims = await self.api.list_namespaced_persistent_volume_claim(
            self.namespace, label_selector=selector
        )
        if any(claim.metadata.deletion_timestamp is None for claim in claims.items):
            return  # another workspace of theirs (not one being deleted) still needs it
        try:
            await self._networking.delete_namespaced_network_policy(
                names.network_name(self.hub_name, self.user.name), self.namespace
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def _claim_exists(self) -> bool:
        try:
            await self.api.read_namespaced_persistent_volume_claim(self.pvc_name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    async def _delete_claim(self) -> None:
        async def deleted() -> bool:
            try:
                await asyncio.wait_for(
                    self.api.delete_namespaced_persistent_volume_claim(
                        self.pvc_name, self.namespace
                    ),
                    self.k8s_api_request_timeout,
                )
            except TimeoutError:
                return False  # asked again by the backoff
            except ApiException as error:
                if error.status != 404:  # gone already: done
                    raise
            return True

        self.log.info("Deleting the volume claim %s", self.pvc_name)
        await exponential_backoff(
            deleted,
            f"Could not delete the volume claim {self.pvc_name}",
            timeout=self.k8s_api_request_retry_timeout,
        )

    async def delete_forever(self) -> None:
        """The workspace is deleted (not just stopped): its claim goes, and the person's
        policy once no workspace of theirs is left. (Upstream keeps the claim of a named
        server whose claim name has no "{user_server}", as ours.)"""
        await self._delete_claim()
        await self._remove_network_policy_if_unused()
