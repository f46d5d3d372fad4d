"""What both spawners' claims of a warm pool slot share (spawners/docker_claim.py,
spawners/kube_claim.py): which slot a start's options name, a stopwatch of the claim's steps,
and its two log lines (bench.spawn_warm and bench.spawn_warm_kube read the first)."""

from __future__ import annotations

import time
from typing import Any

from lib import pools
from spawners.naming import server_label


def slot_named(spawner: Any) -> str:
    """The slot this start's options name (the portal's ``pool_slot``), if it is one of this
    hub's slot names; else ""."""
    slot = (spawner.user_options or {}).get(pools.OPTION)
    if not isinstance(slot, str) or not pools.is_slot_name(spawner.hub_name, slot):
        return ""
    return slot


class Steps:
    """A claim's stopwatch: the seconds of each step since the one before."""

    def __init__(self) -> None:
        self.began = self.mark = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self.mark
        self.mark = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.seconds.items())


def log_claimed(spawner: Any, slot: str, steps: Steps) -> None:
    spawner.log.info(
        "%s: claimed pool slot %s in %.3f s (%s)",
        server_label(spawner),
        slot,
        time.perf_counter() - steps.began,
        steps,
    )


def log_not_claimed(spawner: Any, slot: str, error: Exception) -> None:
    spawner.log.warning(
        "%s: pool slot %s not claimed (%s); removed, starting cold",
        server_label(spawner),
        slot,
        error,
    )
