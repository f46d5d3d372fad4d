"""Keeps a person's network from being removed under a start that needs it.

A person's Docker network is made by the start of their first workspace and removed by the
delete of their last. Both run in the one hub process, and can run at once: a delete lists
the person's containers (none), a start finds the network still there and makes its
container, the delete removes the network, and the container cannot start ("network ...
not found"). The guard makes the two exclusive per network: a removal happens only when no
start is in flight, and a start that comes during a removal waits for it, then makes the
network again.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class NetworkGuard:
    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._starts: Counter[str] = Counter()

    @asynccontextmanager
    async def starting(self, network: str) -> AsyncIterator[None]:
        """Held by a start from before it looks for the network until its container runs."""
        async with self._locks[network]:  # waits for a removal under way
            self._starts[network] += 1
        try:
            yield
        finally:
            self._starts[network] -= 1
            if not self._starts[network]:
                del self._starts[network]

    @asynccontextmanager
    async def removing(self, network: str) -> AsyncIterator[bool]:
        """Yields whether the network may be removed now; starts wait until the block ends."""
        async with self._locks[network]:
            yield not self._starts[network]
