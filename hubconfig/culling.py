"""Idle culling: jupyterhub-idle-culler as a hub-managed service, off unless configured.

``MLHUB_CULL_IDLE_SECONDS`` (> 0) turns it on: the culler stops every workspace the hub has
seen no activity of for that long (and, with ``MLHUB_CULL_MAX_AGE_SECONDS``, any that has run
that long). A culled workspace is stopped, never removed: its files stay, and the portal shows
it ``stopped`` with why (``stop_reasons_install``). Deleting workspaces is the portal's job
(expiry, cleanup), which also forgets them in its database and revokes their tokens.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from jupyterhub.handlers.base import BaseHandler
from jupyterhub.utils import utcnow

from lib import env

log = logging.getLogger("JupyterHub")

SERVICE = "idle-culler"
ROLE = "mlhub-idle-culler"
# What the culler's README asks for and nothing more: list the people with ready servers,
# read their servers and activity, stop them. No admin:users: it never deletes people
# (--cull-users stays off), and nothing here may start or open a workspace.
SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
# A check is one paginated read of the hub's ready servers: every minute is cheap.
CULL_EVERY_MOST = 60
# Servers report activity to the hub every 5 minutes (the hub reads the proxy's every 10 s,
# hubconfig/jupyterhub_config.py last_activity_interval): a shorter idle limit can stop a
# workspace that is in use.
ACTIVITY_LAG = 300
REMOVE_REFUSED = (
    "MLHUB_CULL_REMOVE_NAMED=true is not supported: every MLHub workspace is a named server "
    "the portal keeps, and the culler's remove deletes its files (its Docker volume or "
    "folder) while the portal still lists it as stopped. Idle workspaces are stopped with "
    "their files kept; workspaces are deleted by their expiry (days to live) or in the "
    "portal. See docs/operations.md, 'Idle culling'."
)


@dataclass(frozen=True)
class Culling:
    timeout: int  # seconds without activity before a workspace is stopped
    every: int  # seconds between the culler's checks
    max_age: int = 0  # seconds a workspace may run, active or not; 0: no limit

    def service(self, python: str = sys.executable) -> dict:
        """The hub-managed service (the hub starts it, with a token of its own, and stops it)."""
        return {
            "name": SERVICE,
            "command": [
                python,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={self.timeout}",
                f"--cull-every={self.every}",
                f"--max-age={self.max_age}",
            ],
        }

    def role(self) -> dict:
        return {
            "name": ROLE,
            "description": "The idle culler: find idle workspaces and stop them",
            "scopes": list(SCOPES),
            "services": [SERVICE],
        }

    def stop_reason(self, *, idle: float | None, age: float | None) -> str:
        """What people are told about a workspace the culler stopped, decided as the culler
        decides: idle past the limit, else running past the maximum age."""
        if idle is not None and idle >= self.timeout:
            why = f"idle for {duration(idle)} (the limit is {duration(self.timeout)})"
        elif self.max_age and age is not None and age >= self.max_age:
            why = f"it had run for {duration(age)} (the limit is {duration(self.max_age)})"
        else:
            return "Stopped by the idle culler; its files are kept"
        return f"Stopped by the idle culler: {why}; its files are kept"


def duration(seconds: float) -> str:
    """``45 seconds``, ``30 minutes``, ``2.5 hours``: rounded down, for people."""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    if seconds < 120 * 60:
        return f"{seconds // 60} minutes"
    hours = f"{seconds // 360 / 10:.1f}".removesuffix(".0")
    return f"{hours} hours"


def culling_from_env() -> Culling | None:
    """The culler's settings from the environment; None when culling is off (the default).

    Every value is checked even when culling is off: a setting that would do nothing is a
    mistake in the deployment, and stops the hub's start like a malformed one.
    """
    if env.env_bool("MLHUB_CULL_REMOVE_NAMED", False):
        raise env.ConfigError(REMOVE_REFUSED)
    timeout = env.env_int_at_least("MLHUB_CULL_IDLE_SECONDS", 0, 0)
    every = env.env_int_at_least("MLHUB_CULL_EVERY_SECONDS", 0, 1) if _set("EVERY") else None
    max_age = env.env_int_at_least("MLHUB_CULL_MAX_AGE_SECONDS", 0, 0)
    if not timeout:
        stray = [f"MLHUB_CULL_{name}_SECONDS" for name in ("EVERY", "MAX_AGE") if _set(name)]
        if stray:
            raise env.ConfigError(
                f"{' and '.join(stray)} only apply with MLHUB_CULL_IDLE_SECONDS > 0 "
                "(idle culling is off)"
            )
        return None
    if timeout < 2 * ACTIVITY_LAG:
        log.warning(
            "MLHUB_CULL_IDLE_SECONDS=%s: workspaces report activity to the hub only every "
            "%s s, so the culler may stop workspaces that are in use",
            timeout,
            ACTIVITY_LAG,
        )
    if every is None:
        every = min(CULL_EVERY_MOST, max(1, timeout // 4))
    return Culling(timeout=timeout, every=every, max_age=max_age)


def _set(name: str) -> bool:
    return env.env_str(f"MLHUB_CULL_{name}_SECONDS").strip() != ""


# The hub side: a culled workspace's stop report says why ------------------------------------

_culling: Culling | None = None


def stop_reasons_install(culling: Culling) -> None:
    """Give the stops the culler asks for their reason, sent with the stop's state report.

    A spawner cannot see who asked for its stop. Every API stop passes through the hub's
    ``stop_single_user``, which knows the requester: when that is the culler's service, the
    spawner is told why before the stop begins (``ReportsState.stop_reason_set``), and its
    stop report (spawners/state_reports.py) carries it to the portal. Stops by people, the
    portal and the hub's own shutdown stay without a reason.
    """
    global _culling
    first = _culling is None
    _culling = culling
    if not first:
        return
    stop_single_user = BaseHandler.stop_single_user

    async def _stop_single_user(self, user, server_name=""):
        requester = self.current_user
        spawner = user.spawners.get(server_name)  # dict.get: never creates one
        if not (
            getattr(requester, "kind", None) == "service"
            and requester.name == SERVICE
            and hasattr(spawner, "stop_reason_set")
        ):
            return await stop_single_user(self, user, server_name)
        now = utcnow(with_tz=False)
        started = _naive_utc(spawner.orm_spawner.started)
        last = _naive_utc(spawner.orm_spawner.last_activity) or started
        spawner.stop_reason_set(
            _culling.stop_reason(
                idle=(now - last).total_seconds() if last else None,
                age=(now - started).total_seconds() if started else None,
            )
        )
        try:
            return await stop_single_user(self, user, server_name)
        except BaseException:
            spawner.stop_reason_set("")  # refused before it began: a later stop is not this
            raise

    BaseHandler.stop_single_user = _stop_single_user


def _naive_utc(moment: datetime | None) -> datetime | None:
    """The hub keeps naive UTC times; one with a zone is made the same."""
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment
