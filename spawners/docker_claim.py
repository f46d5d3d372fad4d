"""Docker mode: a new workspace takes a warm pool slot instead of starting cold (issue 26).

The portal claims a slot for a new workspace in its database and names it in the first
start's ``user_options`` (``pool_slot``; only the portal may start servers, see the hub's
roles). The spawner then makes the slot this workspace, in this order:

1. checks it is one of this hub's slots, running, of this start's image, on the pool's
   network alone, and that this start asks nothing a running container cannot take (GPUs,
   shared memory, the deployment's own volumes or extra_* settings);
2. sets this start's CPU and memory on it (``docker update``, unless it has them) and gives
   it the workspace's container name (``docker rename``; its labels cannot change, so cleanup
   learns it from the portal's record);
3. joins it to the person's network;
4. hands the server its identity (command, API token, OAuth client, URL prefix) on the
   waiter's claim port, over the person's network, with the slot's own key, which only the
   engine's users (the hub, the portal) can read (lib/pools.py KEY_ENV,
   deploy/workspace/pool_waiter.py); a slot made before the port, through ``docker exec`` of
   the waiter's pipe. The waiter becomes the server. At the
   same time it takes the slot off the pool's network: once the claim ends nothing of the
   pool reaches it (nothing there could before either: the pool's network is internal,
   without traffic between its containers).
Steps 2 and 3 are sent to the engine at once; step 4 follows when they are done.

Any failure removes the slot (it is never used twice) and the start goes on cold. A slot is
claimed only by a workspace that never had a volume: a later start keeps its data.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from docker.errors import APIError, NotFound

from lib import pools
from lib.labels import LABEL_ORIGIN
from spawners.naming import server_label
from spawners.pool.claim_steps import Steps, log_claimed, log_not_claimed, slot_named
from spawners.pool.docker_pool import CPU_PERIOD, cpu_quota


def _slot_limits(found: dict[str, Any]) -> dict[str, int]:
    """The CPU and memory limits a slot's container has, in ``update_container``'s words."""
    host = found.get("HostConfig") or {}
    return {
        "mem_limit": host.get("Memory"),
        "memswap_limit": host.get("MemorySwap"),
        "cpu_period": host.get("CpuPeriod"),
        "cpu_quota": host.get("CpuQuota"),
    }


def _slot_key(found: dict[str, Any]) -> str:
    """The slot's own key, from its container's variables ("" for a slot made before)."""
    for variable in found["Config"].get("Env") or []:
        name, _, value = variable.partition("=")
        if name == pools.KEY_ENV:
            return value
    return ""


# How long the claim port may take to answer (it answers at once: the waiter only waits).
CLAIM_SECONDS = 10


class ClaimsPoolSlots:
    """Mixin for MLHubDockerSpawner (it provides ``docker``, ``resources`` and the names)."""

    async def slot_claim(self, network: dict[str, Any]) -> tuple[str, int] | None:
        """This start on the slot its options name, or None: start cold."""
        # Only a workspace that never had a volume: a later start keeps its own data.
        slot = "" if self._volume_name else slot_named(self)
        if not slot:
            return None
        steps = Steps()
        try:
            found = await self.docker("inspect_container", slot)
        except NotFound:
            self.log.info("%s: pool slot %s is gone; starting cold", server_label(self), slot)
            return None
        unfit = self._slot_unfit(found)
        try:
            if unfit:
                raise ValueError(unfit)
            address = await self._slot_take(found, network, steps)
        except Exception as error:  # any: the slot goes, the start goes on cold
            log_not_claimed(self, slot, error)
            await self._slot_destroy(found["Id"], slot)
            return None
        log_claimed(self, slot, steps)
        return address

    def _slot_unfit(self, found: dict[str, Any]) -> str:
        """Why this slot cannot be this start ("" when it can)."""
        labels = found["Config"].get("Labels") or {}
        if labels.get(LABEL_ORIGIN) != self.hub_name or pools.LABEL_POOL not in labels:
            return "not a pool slot of this hub"
        if not found["State"].get("Running"):
            return "not running"
        networks = set((found["NetworkSettings"].get("Networks") or {}).keys())
        if networks != {pools.network_name(self.hub_name)}:
            return "not on the pool's network alone (claimed already?)"
        image = found["Config"].get("Image")
        if image != self.resources.image:
            return f"its image is {image}, this start's {self.resources.image}"
        if self.resources.gpus or self.resources.shm_size is not None:
            return "this start asks for GPUs or shared memory: a running container takes neither"
        if self._deployment_extras or self.volumes or self.mounts or self.links:
            return "the deployment adds volumes, mounts, links or extra_* settings to containers"
        mounts = {m.get("Destination"): m.get("Name") for m in found.get("Mounts") or []}
        if pools.volume_name(found["Name"].lstrip("/")) != mounts.get(self.work_dir):
            return f"its volume is not at this hub's work_dir {self.work_dir}"
        if self.post_start_cmd:
            return "the deployment runs a post_start_cmd"
        return ""

    async def _slot_take(
        self, found: dict[str, Any], network: dict[str, Any], steps: Steps
    ) -> tuple[str, int]:
        """The claim itself: where the server answers (each step timed on ``steps``)."""
        step = steps.step
        container = found["Id"]
        memory = self.resources.memory
        leftover = await self.get_object()  # a container of this name that should be gone
        if leftover:
            await self._remove_container(leftover["Id"])
        step("leftover")
        identity = {"env": self.get_env(), "command": await self.get_command()}
        key, claim = _slot_key(found), None
        if not key:  # a slot made before the claim port: through the pipe, by an exec
            claim = await self.docker(
                "exec_create",
                container,
                pools.CLAIM_COMMAND,
                environment={pools.IDENTITY_ENV: json.dumps(identity)},
            )
        step("identity prepared")
        # The calls of their own to the engine, at once rather than one after another; the
        # identity only once the person's network is joined: handed sooner, 7 of a lecture's
        # 100 servers hung a minute, likely reaching the hub before their network was there
        # (bench.concurrent).
        limits = {
            "mem_limit": memory,
            "memswap_limit": memory,
            "cpu_period": CPU_PERIOD,
            "cpu_quota": cpu_quota(self.resources.cpu),
        }
        await asyncio.gather(
            # Most claims ask the template's default, which the slot has: no update (about
            # 14 ms of the engine's CPU each, measured by bench/cpu_split.py's parts).
            *(
                [self.docker("update_container", container, **limits)]
                if _slot_limits(found) != limits
                else []
            ),
            self.docker("rename", container, self.object_name),
            self.docker("connect_container_to_network", container, network["Id"]),
        )
        step("limits name network")
        joined = await self.docker("inspect_container", container)
        address = joined["NetworkSettings"]["Networks"][network["Name"]]["IPAddress"]
        # Leaving the pool's network while the identity is handed: nothing there can reach
        # the slot meanwhile (internal, no traffic between its containers), its server does
        # not listen yet, and the claim ends only once it left.
        await asyncio.gather(
            self._identity_send(address, key, identity) if key else self._identity_hand(claim),
            self.docker(
                "disconnect_container_from_network",
                container,
                pools.network_name(self.hub_name),
                force=True,
            ),
        )
        step("identity and pool left")
        self.object_id = container
        self._volume_name = pools.volume_name(found["Name"].lstrip("/"))
        return await self.get_ip_and_port()

    async def _identity_send(self, ip: str, key: str, identity: dict[str, Any]) -> None:
        """The identity on the slot's claim port, with its key (lib/pools.py KEY_ENV)."""
        line = json.dumps({"key": key, "identity": identity}).encode() + b"\n"
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(ip, pools.CLAIM_PORT), CLAIM_SECONDS
        )
        try:
            writer.write(line)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), CLAIM_SECONDS)
        finally:
            writer.close()
        if answer != pools.CLAIM_TAKEN:
            raise RuntimeError(f"the slot's waiter refused the claim ({answer!r})")

    async def _identity_hand(self, claim: dict[str, Any]) -> None:
        """The identity through the waiter's pipe, by the exec ``claim``."""
        output = await self.docker("exec_start", claim["Id"])
        code = (await self.docker("exec_inspect", claim["Id"]))["ExitCode"]
        if code != 0:
            text = output.decode(errors="replace").strip() if output else ""
            raise RuntimeError(f"the slot's waiter refused the claim (exit {code}): {text}")

    async def _slot_destroy(self, container: str, slot: str) -> None:
        self.object_id = ""
        try:
            await self._remove_container(container)
        except APIError as error:
            self.log.warning("%s: could not remove slot %s: %s", server_label(self), slot, error)
        try:
            await self.docker("remove_volume", pools.volume_name(slot), force=True)
        except (NotFound, APIError):
            pass
