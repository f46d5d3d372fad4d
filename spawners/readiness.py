"""Tell the hub a workspace is up as soon as it listens.

JupyterHub checks a new server with a jittered exponential backoff (0.2 s, 0.4 s, 0.8 s,
1.6 s, ...), so a server that is ready after 1.9 s is often noticed only a second later. Our
spawners return from ``start()`` once the server accepts connections, checked every 0.1 s;
the hub's first check then succeeds at once. Nothing here replaces the hub's own HTTP check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

POLL_INTERVAL = 0.1


async def wait_until_listening(
    host: str,
    port: int,
    *,
    timeout: float,
    still_starting: Callable[[], Awaitable[bool]],
) -> bool:
    """True once ``host:port`` accepts a connection; False on timeout or when the server
    stopped starting (then the hub's own check reports the failure)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
        except (TimeoutError, OSError):
            if not await still_starting():
                return False
            await asyncio.sleep(POLL_INTERVAL)
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


class ReadyWhenListening:
    """Spawner mixin (first in the bases): ``start()`` returns once the server listens."""

    async def start(self):
        ip, port = await super().start()
        await wait_until_listening(
            ip, port, timeout=self.http_timeout, still_starting=self._still_starting
        )
        return ip, port

    async def _still_starting(self) -> bool:
        return await self.poll() is None
