"""Tell the hub a workspace is up as soon as it listens.

JupyterHub checks a new server with a jittered exponential backoff (0.2 s, 0.4 s, 0.8 s,
1.6 s, ...), so a server that is ready after 1.9 s is often noticed only a second later. Our
spawners return from ``start()`` once the server accepts connections, checked about every 0.05 s;
the hub's first check then succeeds at once. Nothing here replaces the hub's own HTTP check.

A server that exits before it listens fails the start at once, with its exit and last log
lines (``start_failure``): the hub's own check would otherwise wait its whole
``http_timeout`` for a server that is gone.

A connection attempt is one local SYN, so it can be frequent. Asking whether the server is
still starting is not: for Docker it is an inspect through the hub's few Docker threads, and
work for dockerd while the container needs the CPU (asked 10 times a second, it slowed starts
measurably; bench/README.md). So that is asked once a second at most: a start that failed
is still noticed within a second. (Kubernetes answers from kubespawner's pod cache.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from jupyterhub.utils import exponential_backoff

from spawners.naming import server_label
from spawners.options import refusal

POLL_INTERVAL = 0.05
STILL_STARTING_INTERVAL = 1.0


async def wait_until_listening(
    host: str,
    port: int,
    *,
    timeout: float,
    still_starting: Callable[[], Awaitable[bool]],
) -> str:
    """ "listening" once ``host:port`` accepts a connection, "died" when the server stopped
    starting, "timeout" when neither happened in time (the hub's own check then decides)."""
    loop = asyncio.get_running_loop()
    next_check = loop.time()  # the first refusal asks at once: a start that failed fast

    async def settled() -> str | None:
        nonlocal next_check
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
        except (TimeoutError, OSError):
            if loop.time() < next_check:
                return None
            if not await still_starting():
                return "died"
            next_check = loop.time() + STILL_STARTING_INTERVAL
            return None
        writer.close()
        await writer.wait_closed()
        return "listening"

    try:
        # A steady interval (scale 1): a SYN is cheap, and the server is up in seconds.
        outcome = await exponential_backoff(
            settled,
            f"{host}:{port} not listening",
            start_wait=POLL_INTERVAL,
            scale_factor=1,
            max_wait=POLL_INTERVAL,
            timeout=timeout,
        )
    except TimeoutError:
        return "timeout"
    return outcome


def listening_address(where: tuple[str, int] | str) -> tuple[str, int]:
    """Host and port from what a spawner's start returns: dockerspawner and the process
    spawner an (ip, port), kubespawner the server's URL."""
    if isinstance(where, str):
        url = urlsplit(where)
        return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    return where


class ReadyWhenListening:
    """Spawner mixin (before the upstream spawner in the bases): ``start()`` returns once the
    server listens, and fails as soon as it died."""

    async def start(self):
        began = time.perf_counter()
        where = await super().start()
        return await self.ready_when_listening(where, began)

    async def ready_when_listening(self, where, began: float):
        """``where`` (what a start returns) once it listens; a refusal if its server died.
        For a start that does not go through upstream's (a warm pool's claim)."""
        started = time.perf_counter()
        host, port = listening_address(where)
        outcome = await wait_until_listening(
            host, port, timeout=self.http_timeout, still_starting=self._still_starting
        )
        # Where a slow start goes: our side (container or process) or the server's own.
        self.log.info(
            "%s started in %.3f s, %s %.3f s later",
            server_label(self),
            started - began,
            outcome,
            time.perf_counter() - started,
        )
        if outcome == "died":
            message = await self.start_failure()
            self.log.warning("%s could not start: %s", server_label(self), message)
            raise refusal(500, message)
        return where

    async def _still_starting(self) -> bool:
        return await self.poll() is None

    async def start_failure(self) -> str:
        """Why the server died while starting, for the person: its exit, its last lines."""
        status = await self.poll()
        return f"the workspace exited while starting (exit code {status})"
