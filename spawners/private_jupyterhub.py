"""The one use of a JupyterHub private member by MLHub's spawners, kept here alone.

JupyterHub has no public hook for the end of a spawn (the spawner's start, the wait for the
server, and the proxy's route): the hub's handler keeps that whole spawn in the spawner's
``_spawn_future`` (jupyterhub/handlers/base.py ``spawn_single_user``) before the spawn runs
``pre_spawn_hook``. The state reports (spawners/state_reports.py) hang their "running" or
"error" report on it. tests/spawners/test_private_members.py fails when an upgrade moves it;
docs/architecture.md lists it.
"""

from __future__ import annotations

import asyncio
from typing import Any


def spawn_in_progress(spawner: Any) -> asyncio.Future | None:
    """The whole spawn under way (start, readiness, route), or None outside the hub's
    handler (a spawner started on its own, in tests)."""
    return getattr(spawner, "_spawn_future", None)
