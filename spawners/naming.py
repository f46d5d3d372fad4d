"""How the spawners name a server in their log lines: "user:server", or "user" alone for a
default server (as JupyterHub's own log lines do)."""

from __future__ import annotations

from typing import Any


def server_label(spawner: Any) -> str:
    user = spawner.user.name if spawner.user else "(no user)"
    return f"{user}:{spawner.name}" if spawner.name else user
