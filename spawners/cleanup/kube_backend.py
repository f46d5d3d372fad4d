"""The engine side of cleanup in Kubernetes mode: list and remove what this hub labelled.

No Django: the service decides what is orphaned, this only lists the spawner's objects in one
namespace by the hub's origin label (``mlhub.origin=<HUB_NAME>``, lib/labels.py) and removes.
The same methods and guarantees as the Docker backend (docker_backend.py).

The client is asynchronous (kubernetes_asyncio, the spawner's); cleanup runs in a django-q2
worker or a management command, so each call here is one ``asyncio.run`` (``run_sync``) with its
own ApiClient, closed at its end.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import config
from kubernetes_asyncio.client import (
    ApiClient,
    Configuration,
    CoreV1Api,
    CustomObjectsApi,
    NetworkingV1Api,
)
from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.config import ConfigException

from lib.labels import LABEL_EXPIRES_AT, LABEL_ORIGIN, LABEL_SERVER_NAME, owner_of
from lib.pools import LABEL_POOL
from spawners.cleanup.backend import EngineUnavailable, MetricsUnavailable, Reading, Resource

# kind → (API group, the name in the client's list_namespaced_* / delete_namespaced_*).
KINDS = {
    "pod": ("core", "pod"),
    "service": ("core", "service"),
    "pvc": ("core", "persistent_volume_claim"),
    "secret": ("core", "secret"),
    "networkpolicy": ("networking", "network_policy"),
}
# Pods first: the Services, Secrets and claims are theirs. Claims last: one still mounted by
# a pod is only marked for deletion (kubernetes.io/pvc-protection) and goes once its pod has.
REMOVAL_ORDER = ("pod", "service", "secret", "networkpolicy", "pvc")
# Deletes at once: as the Docker backend, a few keep the API server's load low.
REMOVE_AT_ONCE = 4
PAGE_SIZE = 500
REQUEST_SECONDS = 30
NO_ANSWER = "the Kubernetes API server did not answer"
# What fails a call: the server's error status, the connection, the time, the configuration
# (OSError: a certificate file it names that cannot be read).
CALL_ERRORS = (ApiException, aiohttp.ClientError, TimeoutError, ConfigException, OSError)


# The pod metrics API (metrics-server, or any adapter serving it); a cluster without one
# answers 404 for the group, one whose server is down 503.
METRICS = {"group": "metrics.k8s.io", "version": "v1beta1", "plural": "pods"}
NO_METRICS = "the cluster serves no metrics API"
# The chart's Role grants it (list pods.metrics.k8s.io); an account of one's own may lack it.
METRICS_REFUSED = (
    "this account may not read the cluster's metrics API (RBAC: list pods.metrics.k8s.io)"
)
# Kubernetes quantities ("250m" cores, "1234567n", "2Gi", "512Ki") as the numbers they mean.
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number: "250m" -> 0.25, "512Ki" -> 524288.0."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.groups()
    return float(number) * _SUFFIX[suffix]


def reading_from(item: dict) -> Reading:
    """A Reading from one PodMetrics object: its containers' CPU rate and memory summed."""
    meta = item.get("metadata") or {}
    usages = [container.get("usage") or {} for container in item.get("containers") or []]
    memory = int(sum(quantity(usage.get("memory", "0")) for usage in usages))
    return Reading(
        name=meta.get("name", ""),
        run=meta.get("uid", "") or meta.get("name", ""),
        cpu_seconds=None,
        cpu_cores=sum(quantity(usage.get("cpu", "0")) for usage in usages),
        memory=memory,
        memory_peak=None,  # the metrics API reports the working set now, no high-water mark
    )


def run_sync(coroutine):
    """Run ``coroutine`` to its end from sync code, on its own loop. Cleanup runs where no
    loop runs (a task, a command); a caller inside one (a test next to Playwright, an async
    view) gets a thread of its own, as asyncio.run cannot nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


class DeleteRefused(Exception):
    """The API server answered a delete with an error (forbidden, conflict, ...)."""


def reason_of(error: BaseException) -> str:
    """A short reason for a failed call: never the response body (it can repeat what was
    sent) nor the configuration (it holds the token)."""
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect to {error.host}:{error.port} ({type(error.os_error).__name__})"
    if isinstance(error, TimeoutError):
        return f"no answer within {REQUEST_SECONDS} s"
    if isinstance(error, ConfigException):
        return f"no usable configuration ({error})"
    return type(error).__name__


def resource_from(kind: str, item: Any) -> Resource:
    """A Resource from one listed object (a kubernetes_asyncio model: V1Pod, V1Service, ...)."""
    meta = item.metadata
    labels = meta.labels or {}
    try:
        expires = int(labels.get(LABEL_EXPIRES_AT) or 0)
    except ValueError:
        expires = 0
    # Missing: now, so it counts as young and is kept (its age cannot prove it orphaned).
    created = meta.creation_timestamp or datetime.now(UTC)
    if created.tzinfo is None:  # the API's times are UTC ("...Z")
        created = created.replace(tzinfo=UTC)
    return Resource(
        kind=kind,
        id=meta.name,
        origin=labels.get(LABEL_ORIGIN, ""),
        name=meta.name,
        user=owner_of(labels, meta.annotations or {}),
        server=labels.get(LABEL_SERVER_NAME, ""),
        created_at=created,
        expires_at=expires,
        pool=labels.get(LABEL_POOL, ""),
    )


def removal_batches(resources: list[Resource]) -> list[list[int]]:
    """Indexes into ``resources``, one batch per kind in REMOVAL_ORDER (an unknown kind last,
    where ``remove`` refuses it)."""
    rank = {kind: position for position, kind in enumerate(REMOVAL_ORDER)}
    batches: list[list[int]] = [[] for _ in range(len(REMOVAL_ORDER) + 1)]
    for index, resource in enumerate(resources):
        batches[rank.get(resource.kind, len(REMOVAL_ORDER))].append(index)
    return [batch for batch in batches if batch]


class KubeBackend:
    def __init__(self, hub_name: str, namespace: str, config_file: str | None = None):
        self.hub_name = hub_name
        self.namespace = namespace
        self.config_file = config_file

    # -- the client ---------------------------------------------------------------------

    async def _configuration(self) -> Configuration:
        """A kubeconfig named here wins; else the pod's service account (the hub's and the
        portal's pods), else KUBECONFIG or ~/.kube/config."""
        configuration = Configuration()
        if self.config_file is None:
            try:
                config.load_incluster_config(client_configuration=configuration)
                return configuration
            except ConfigException:
                pass  # not in a pod
        await config.load_kube_config(
            config_file=self.config_file, client_configuration=configuration, persist_config=False
        )
        return configuration

    async def client(self) -> ApiClient:
        """A new client: close it (``async with``) when done."""
        return ApiClient(await self._configuration())

    def _api(self, client: ApiClient, kind: str):
        group, _ = KINDS[kind]
        return CoreV1Api(client) if group == "core" else NetworkingV1Api(client)

    # -- listing ------------------------------------------------------------------------

    async def _page(self, client: ApiClient, kind: str, token: str | None) -> tuple[list, str]:
        """One page of ``kind`` with this hub's origin label, and the token of the next ("")."""
        listing = getattr(self._api(client, kind), f"list_namespaced_{KINDS[kind][1]}")
        page = await listing(
            self.namespace,
            label_selector=f"{LABEL_ORIGIN}={self.hub_name}",
            limit=PAGE_SIZE,
            _continue=token,
            _request_timeout=REQUEST_SECONDS,
        )
        return page.items, page.metadata._continue or ""

    async def _list(self, client: ApiClient, kind: str) -> list[Resource]:
        found: list[Resource] = []
        token = None
        while True:
            items, token = await self._page(client, kind, token)
            found += [
                resource_from(kind, item)
                for item in items
                # Already being deleted (by an earlier run, the hub, its owner's garbage
                # collection): it goes on its own; listing it would report it removed twice.
                if item.metadata.deletion_timestamp is None
            ]
            if not token:
                return found

    async def _resources(self) -> list[Resource]:
        async with await self.client() as client:
            kinds = await asyncio.gather(*(self._list(client, kind) for kind in KINDS))
        return [resource for resources in kinds for resource in resources]

    def resources(self) -> list[Resource]:
        """Every pod, Service, claim, Secret and NetworkPolicy of the namespace labelled with
        this hub's origin (every page)."""
        try:
            found = run_sync(self._resources())
        except CALL_ERRORS as error:
            raise EngineUnavailable(f"{NO_ANSWER}: {reason_of(error)}") from None
        # The API server filtered by origin; check again here: never another hub's, and never
        # one that names no person (it cannot be proven anyone's orphan) unless it is a warm
        # pool slot's (the portal's records say whether it is the pool's, portal/pools/records.py).
        return [r for r in found if r.origin == self.hub_name and (r.user or r.pool)]

    # -- measuring ----------------------------------------------------------------------

    async def _pod_metrics(self) -> list[dict]:
        async with await self.client() as client:
            found = await CustomObjectsApi(client).list_namespaced_custom_object(
                namespace=self.namespace,
                label_selector=f"{LABEL_ORIGIN}={self.hub_name}",
                _request_timeout=REQUEST_SECONDS,
                **METRICS,
            )
        return found.get("items") or []

    def readings(self) -> list[Reading]:
        """The measured use of this hub's pods in the namespace, from the pod metrics API
        (one call). MetricsUnavailable when the cluster serves none."""
        try:
            items = run_sync(self._pod_metrics())
        except ApiException as error:
            if error.status == 404:
                raise MetricsUnavailable(NO_METRICS) from None
            if error.status == 503:
                down = f"the cluster's metrics API did not answer ({reason_of(error)})"
                raise MetricsUnavailable(down) from None
            if error.status == 403:
                raise MetricsUnavailable(METRICS_REFUSED) from None
            raise EngineUnavailable(f"{NO_ANSWER}: {reason_of(error)}") from None
        except CALL_ERRORS as error:
            raise EngineUnavailable(f"{NO_ANSWER}: {reason_of(error)}") from None
        return [reading_from(item) for item in items]

    # -- removing -----------------------------------------------------------------------

    async def _delete(self, client: ApiClient, resource: Resource) -> None:
        """Delete one object; one already gone counts as removed. Pods keep their own grace
        period, so a workspace's processes can write out what they hold."""
        if resource.kind not in KINDS:
            raise ValueError(f"not a kind of this backend: {resource.kind}")
        deleting = getattr(
            self._api(client, resource.kind), f"delete_namespaced_{KINDS[resource.kind][1]}"
        )
        try:
            await deleting(resource.name, self.namespace, _request_timeout=REQUEST_SECONDS)
        except ApiException as error:
            if error.status != 404:
                raise

    async def _remove_all(self, resources: list[Resource]) -> list[Exception | None]:
        errors: list[Exception | None] = [None] * len(resources)
        at_once = asyncio.Semaphore(REMOVE_AT_ONCE)

        async def one(client: ApiClient, index: int) -> None:
            async with at_once:
                try:
                    await self._delete(client, resources[index])
                except ApiException as error:
                    errors[index] = DeleteRefused(
                        f"the Kubernetes API server refused: {reason_of(error)}"
                    )
                except CALL_ERRORS as error:
                    errors[index] = EngineUnavailable(f"{NO_ANSWER}: {reason_of(error)}")
                except Exception as error:  # reported by the caller, the rest goes on
                    errors[index] = error

        try:
            client = await self.client()
        except CALL_ERRORS as error:
            return [EngineUnavailable(f"{NO_ANSWER}: {reason_of(error)}")] * len(resources)
        async with client:
            for batch in removal_batches(resources):
                await asyncio.gather(*(one(client, index) for index in batch))
        return errors

    def remove(self, resource: Resource) -> None:
        """Remove one object; one already gone counts as removed."""
        (error,) = self.remove_all([resource])
        if error is not None:
            raise error

    def remove_all(self, resources: list[Resource]) -> list[Exception | None]:
        """``remove`` each, a few at a time: pods first, then Services, Secrets,
        NetworkPolicies, and the claims last. Each one's error (None: removed), in the order
        given."""
        if not resources:
            return []
        return run_sync(self._remove_all(resources))
