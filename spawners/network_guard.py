"""Keeps a person's network from being removed under a start that needs it.

A person's Docker network is made by the start of their first workspace and removed by the
delete of their last. Both run in the one hub process, and can run at once: a delete lists
the person's containers (none), a start finds the network still there and makes its
container, the delete removes the network, and the container cannot start ("network ...
not found"). The guard makes the two exclusive per network: a removal happens only when no
start is in flight, and a start that comes during a removal waits for it, then makes the
network again. Finding or making the network is one at a time per network too.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class NetworkGuard:
    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._starts: Counter[str] = Counter()

    @asynccontextmanager
    async def starting(self, network: str, ensure: Callable[[], Awaitable[T]]) -> AsyncIterator[T]:
        """Held by a start from before it looks for the network until its container runs.

        ``ensure`` (find or make the network) runs alone for this network: two starts of the
        same person at once would otherwise both make it, and Docker's duplicate check is
        not atomic (two networks of one name, and containers that cannot say which).
        """
        async with self._locks[network]:  # also waits for a removal under way
            self._starts[network] += 1
            try:
                made = await ensure()
            except BaseException:
                self._done(network)
                raise
        try:
            yield made
        finally:
            self._done(network)

    def _done(self, network: str) -> None:
        self._starts[network] -= 1
        if not self._starts[network]:
            del self._starts[network]

    @asynccontextmanager
    async def removing(self, network: str) -> AsyncIterator[bool]:
        """Yields whether the network may be removed now; starts wait until the block ends."""
        async with self._locks[network]:
            yield not self._starts[network]
