"""Warm pool slots on this host's Docker engine: make them, see how they are, remove them.

A slot is a container of the template's image running the image's pool waiter, with a volume
of its own at the work folder, on the pool's network: internal (no route out) and without
traffic between its containers, so a slot reaches nothing and nothing reaches it. It carries
no person's label, token or variable. CPU is limited by quota and period (not NanoCpus) so
that the claim can change it on the running container (``docker update``); memory likewise.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import docker
from docker.errors import APIError, DockerException, NotFound

from lib import labels as names
from lib import pools
from lib.labels import LABEL_ORIGIN
from spawners.cleanup.backend import EngineUnavailable
from spawners.docker_spec import docker_user_labels, surplus_networks

CPU_PERIOD = 100_000  # microseconds: Docker's default period
# The waiter says this once its imports are done (deploy/workspace/pool_waiter.py).
READY_LINE = b"waiting to be claimed"
LOG_LINES = 20
# Container states that mean a slot failed. "created" is not one: a fill pass watching its
# slots sees another pass's slot between its create and its start (a lecture's pool of 100
# was held back ten minutes by one such "failure", bench.concurrent --pool).
ENDED = frozenset({"exited", "dead"})


@dataclass(frozen=True)
class SlotSpec:
    template: str
    image: str
    cpu: float
    memory: int
    work_dir: str


@dataclass(frozen=True)
class SlotState:
    name: str
    state: str  # "warming", "ready", "failed", "gone"
    detail: str = ""


def cpu_quota(cpu: float) -> int:
    """Microseconds per period; at least Docker's minimum of 1 ms."""
    return max(1000, round(cpu * CPU_PERIOD))


class DockerPool:
    def __init__(self, hub_name: str, client: docker.DockerClient | None = None):
        self.hub_name = hub_name
        self._client = client

    @property
    def api(self) -> docker.APIClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=30)
            except DockerException as error:
                raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None
        return self._client.api

    def network_ensure(self) -> str:
        name = pools.network_name(self.hub_name)
        try:
            self.api.inspect_network(name)
        except NotFound:
            try:
                self.api.create_network(
                    name,
                    driver="bridge",
                    internal=True,
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels=pools.network_labels(self.hub_name),
                    check_duplicate=True,
                )
            except APIError as error:
                if error.status_code != 409:  # another fill made it meanwhile
                    raise
        return name

    def make(self, name: str, spec: SlotSpec) -> None:
        """Create and start the slot ``name``; what was made is removed if a step fails."""
        network = self.network_ensure()
        labels = pools.slot_labels(self.hub_name, spec.template)
        volume = pools.volume_name(name)
        try:
            self.api.create_volume(name=volume, labels=labels)
            host_config = self.api.create_host_config(
                binds={volume: {"bind": spec.work_dir, "mode": "rw"}},
                init=True,
                mem_limit=spec.memory,
                memswap_limit=spec.memory,
                cpu_period=CPU_PERIOD,
                cpu_quota=cpu_quota(spec.cpu),
                network_mode=network,
                auto_remove=False,
            )
            self.api.create_container(
                spec.image,
                name=name,
                entrypoint=[pools.WAITER],
                command=[],
                labels=labels,
                host_config=host_config,
                # No variable of anyone's: the claim brings them. Only the slot's own key,
                # which its claim must bring (lib/pools.py KEY_ENV).
                environment={pools.KEY_ENV: secrets.token_hex(32)},
            )
            self.api.start(name)
        except (APIError, DockerException) as error:
            self.remove(name)
            raise EngineUnavailable(f"could not make pool slot {name}: {error}") from error

    def states(self, names: list[str], *, ready: frozenset[str] = frozenset()) -> dict:
        """{name: SlotState} for each named slot: one listing, then the logs of those that
        are not known ``ready`` (running is all a ready one needs to be)."""
        wanted = set(names)
        listed = self._listed("containers", pools.LABEL_POOL, all=True)
        found = {}
        for container in listed:
            name = (container.get("Names") or ["?"])[0].lstrip("/")
            if name in wanted:
                found[name] = container
        return {name: self._state(name, found.get(name), name in ready) for name in names}

    def _state(self, name: str, container: dict | None, ready: bool) -> SlotState:
        if container is None:
            return SlotState(name, "gone")
        state = container.get("State")
        running = state == "running"
        if running and ready:
            return SlotState(name, "ready")
        if not running and state not in ENDED:  # created (another fill starts it), ...
            return SlotState(name, "warming")
        try:
            logs = self.api.logs(name, tail=LOG_LINES)
        except NotFound:
            return SlotState(name, "gone")
        except APIError:
            logs = b""
        if not running:  # exited or dead: its last lines say why
            text = logs.decode(errors="replace").strip()
            return SlotState(name, "failed", f"{container.get('Status', 'exited')}: {text}")
        return SlotState(name, "ready" if READY_LINE in logs else "warming")

    def _listed(self, what: str, label: str, **kwargs) -> list[dict]:
        """The engine's listing of ``what`` (containers, networks) of this hub that carry
        ``label``; EngineUnavailable when it does not answer."""
        filters = {"label": [f"{LABEL_ORIGIN}={self.hub_name}", label]}
        try:
            return getattr(self.api, what)(filters=filters, **kwargs)
        except (APIError, DockerException, OSError) as error:
            raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None

    def remove(self, name: str) -> None:
        """Remove the slot's container and volume; what is gone already counts as removed."""
        try:
            self.api.remove_container(name, force=True, v=True)
        except NotFound:
            pass
        try:
            self.api.remove_volume(pools.volume_name(name), force=True)
        except NotFound:
            pass

    # People's networks, made ahead (portal/pools/networks.py) -----------------------------
    def person_networks(self) -> dict[str, tuple[str, bool]]:
        """{person: (network name, whether any container of theirs exists, in any state)}
        for every person's network of this hub on the engine."""
        listed = self._listed("networks", names.LABEL_USER)
        containers = self._listed("containers", names.LABEL_USER, all=True)
        # A stopped container keeps its network's name, not an endpoint: removing the
        # network under it would leave it unable to start.
        using = {names.owner_of(c.get("Labels") or {}) for c in containers}
        found = {}
        for network in listed:
            person = names.owner_of(network.get("Labels") or {})
            found[person] = (network["Name"], person in using)
        return found

    def person_network_make(self, person: str) -> None:
        """The network a start of ``person`` makes (spawners/docker.py), made now: the same
        name, driver and labels, so the start finds it and checks it as its own."""
        try:
            self.api.create_network(
                names.network_name(self.hub_name, person),
                driver="bridge",
                labels=docker_user_labels(self.hub_name, person),
                check_duplicate=True,
            )
        except APIError as error:
            if error.status_code != 409:  # 409: a start made it meanwhile
                raise EngineUnavailable(f"could not make {person}'s network: {error}") from error
        except (DockerException, OSError) as error:
            raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None

    def person_networks_deduplicate(self) -> int:
        """Remove the empty second networks of a name (docker_spec.surplus_networks); how
        many went."""
        removed = 0
        for network in surplus_networks(self._listed("networks", names.LABEL_USER)):
            removed += self.person_network_remove(network["Id"])
        return removed

    def person_network_remove(self, name: str) -> bool:
        """Remove a person's network (by name or Id) unless something is on it; whether it
        is gone."""
        try:
            self.api.remove_network(name)
        except NotFound:
            return True
        except APIError:  # a container (or the hub's) is on it: it stays
            return False
        except (DockerException, OSError) as error:
            raise EngineUnavailable(f"the Docker engine did not answer: {error}") from None
        return True
