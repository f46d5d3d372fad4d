"""The engine side of cleanup in Docker mode: list and remove what this hub labelled.

No Django: the service decides what is orphaned, this only lists by the hub's origin label
(``mlhub.origin=<HUB_NAME>``, the spawners' labels in lib/labels.py) and removes.
"""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import docker
from docker.errors import APIError, DockerException, InvalidVersion, NotFound

from lib.labels import LABEL_EXPIRES_AT, LABEL_ORIGIN, LABEL_SERVER_NAME, owner_of
from lib.pools import LABEL_POOL
from spawners.cleanup.backend import EngineUnavailable, Reading, Resource

# Removals at once: the engine's overlap, about half the time of one after another for
# 1,000 containers and their volumes on 2 cores (bench/cleanup.py); a few keep its load low.
REMOVE_THREADS = 4
# Stats calls at once (the usage sampler). Even a one-shot call waits for the engine's next
# collection, once a second (0.7-1 s each on Docker 20.10 here), and the calls in flight share
# it: a pass over 200 containers took 25.7 s with 8 at once, 2.6 s with 100, 1.5 s with 200
# (bench/usage_sampler.py). Bounded, and the client's connection pool sized to match.
STATS_THREADS = 200


# Docker's times: RFC 3339 with nanoseconds ("...T04:22:19.411405281Z") for volumes, Go's
# own format ("... 04:22:19.411405281 +0000 UTC") for networks.
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?")


def _when(text: str | None) -> datetime:
    """A Docker time as an aware datetime. Missing or unreadable: now, so the resource counts
    as young and is kept (its age cannot prove it orphaned)."""
    match = _TIME.match(text or "")
    if not match:
        return datetime.now(UTC)
    day, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else f"{zone[:3]}:{zone[-2:]}"
    micro = f".{fraction[:6]}" if fraction else ""
    return datetime.fromisoformat(f"{day}T{clock}{micro}{zone}")


def _resource(kind: str, id_: str, name: str, labels: dict, created: str | None) -> Resource:
    try:
        expires = int(labels.get(LABEL_EXPIRES_AT) or 0)
    except ValueError:
        expires = 0
    return Resource(
        kind=kind,
        id=id_,
        origin=labels.get(LABEL_ORIGIN, ""),
        name=name,
        user=owner_of(labels),
        server=labels.get(LABEL_SERVER_NAME, ""),
        created_at=_when(created),
        expires_at=expires,
        pool=labels.get(LABEL_POOL, ""),
    )


class DockerBackend:
    def __init__(
        self, hub_name: str, client: docker.DockerClient | None = None, hub_container: str = ""
    ):
        self.hub_name = hub_name
        # The MLHub image's hub joins every person's network (spawners/docker.py): it leaves
        # an orphaned one before the engine can remove it.
        self.hub_container = hub_container
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=30, max_pool_size=STATS_THREADS)
            except DockerException as error:
                raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None
        return self._client

    def resources(self) -> list[Resource]:
        """Every container, volume and network labelled with this hub's origin."""
        origin = {"label": f"{LABEL_ORIGIN}={self.hub_name}"}
        api = self.client.api
        try:
            containers = api.containers(all=True, filters=origin)
            volumes = api.volumes(filters=origin).get("Volumes") or []
            networks = api.networks(filters=origin)
        except (APIError, DockerException, OSError) as error:
            raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None
        found = [
            _resource(
                "container",
                c["Id"],
                (c.get("Names") or ["?"])[0].lstrip("/"),
                c.get("Labels") or {},
                datetime.fromtimestamp(c.get("Created", 0), UTC).isoformat(),
            )
            for c in containers
        ]
        found += [
            _resource("volume", v["Name"], v["Name"], v.get("Labels") or {}, v.get("CreatedAt"))
            for v in volumes
        ]
        found += [
            _resource("network", n["Id"], n["Name"], n.get("Labels") or {}, n.get("Created"))
            for n in networks
        ]
        # The engine filtered by origin; check again here: never another hub's, and never one
        # that names no person (it cannot be proven anyone's orphan) unless it is a pool
        # slot's (the portal's records say whose, portal/pools/records.py).
        return [r for r in found if r.origin == self.hub_name and (r.user or r.pool)]

    def readings(self) -> list[Reading]:
        """The measured use of every running container labelled with this hub's origin: one
        listing, then one stats call per container, a few at once. A container gone between
        the two is left out (it stopped: its run is being closed)."""
        running = self._running()

        def one(container: dict) -> Reading | None:
            try:
                stats = self._stats(container["Id"])
            except (NotFound, APIError):  # gone, or refused for this one: the others count
                return None
            except (DockerException, OSError) as error:
                raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None
            name = (container.get("Names") or ["?"])[0].lstrip("/")
            return reading_from(name, container["Id"], stats)

        with ThreadPoolExecutor(STATS_THREADS) as pool:
            found = list(pool.map(one, running))
        return [reading for reading in found if reading is not None]

    def _running(self) -> list[dict]:
        """The running containers labelled with this hub's origin, as the engine lists them."""
        try:
            return self.client.api.containers(
                filters={"label": f"{LABEL_ORIGIN}={self.hub_name}", "status": "running"}
            )
        except (APIError, DockerException, OSError) as error:
            raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None

    def _stats(self, container_id: str) -> dict:
        """One stats reading. ``one_shot`` (engine API 1.41 and later) answers at once; without
        it the engine waits for a second reading, about a second per container."""
        try:
            return self.client.api.stats(container_id, stream=False, one_shot=True)
        except InvalidVersion:
            return self.client.api.stats(container_id, stream=False)

    def remove(self, resource: Resource) -> None:
        """Remove one resource; one already gone counts as removed."""
        api = self.client.api
        try:
            if resource.kind == "container":
                api.remove_container(resource.id, force=True, v=False)
            elif resource.kind == "volume":
                api.remove_volume(resource.id, force=True)
            else:
                if self.hub_container:
                    with contextlib.suppress(NotFound, APIError):  # not connected
                        api.disconnect_container_from_network(
                            self.hub_container, resource.id, force=True
                        )
                api.remove_network(resource.id)
        except NotFound:
            return

    def remove_all(self, resources: list[Resource]) -> list[Exception | None]:
        """``remove`` each, a few at a time: containers first, then the volumes and networks
        they held. Each one's error (None: removed), in the order given."""
        errors: list[Exception | None] = [None] * len(resources)

        def one(index: int) -> None:
            try:
                self.remove(resources[index])
            except Exception as error:  # the engine's own refusal: the caller reports it
                errors[index] = error

        containers = [i for i, r in enumerate(resources) if r.kind == "container"]
        rest = [i for i, r in enumerate(resources) if r.kind != "container"]
        with ThreadPoolExecutor(REMOVE_THREADS) as pool:
            for batch in (containers, rest):
                list(pool.map(one, batch))
        return errors


def reading_from(name: str, container_id: str, stats: dict) -> Reading | None:
    """A Reading from one answer of the engine's stats API; None when it holds no CPU count
    (the container stopped while being read: the engine then answers zeros and no counter)."""
    total = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    if total is None:
        return None
    memory = stats.get("memory_stats") or {}
    # cgroup v1 keeps a high-water mark (max_usage); cgroup v2 has none, so the sampler keeps
    # the highest usage it has seen instead.
    return Reading(
        name=name,
        run=container_id,
        cpu_seconds=total / 1e9,
        cpu_cores=None,
        memory=int(memory.get("usage") or 0),
        memory_peak=int(memory["max_usage"]) if memory.get("max_usage") else None,
    )
