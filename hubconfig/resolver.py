"""The resolver of the hub's own HTTP client: the system's getaddrinfo, in a thread.

JupyterHub 6 makes its requests (the proxy's API, the checks that a server is up) with
aiohttp, and aiohttp resolves names with aiodns when it is installed (JupyterHub requires it):
pycares runs a c-ares event thread of its own that calls back into Python. A restarted hub
died of SIGSEGV in CI once (2026-12-07, tests/docker_mode/test_faults.py; and once ended
unexplained in the soak), with no Python stack to say where; pycares has had such crashes
around its channels (saghul/pycares#236, aio-libs/aiohttp#13203). Not proven the cause: a
suspect removed. The hub resolves a handful of names (the chart's proxy and portal Services;
in Docker mode it connects to addresses and resolves nothing), so the plain resolver costs
nothing and starts no native thread of that kind.
"""

from __future__ import annotations

import asyncio
import socket
import weakref

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult


class ThreadedResolverPerLoop(AbstractResolver):
    """aiohttp's ThreadedResolver, one per event loop, made at that loop's first lookup.

    ThreadedResolver binds the loop running when it is made; this one is made in the hub's
    configuration (``c.JupyterHubHTTPClient.connector_options``), which may be read with no
    loop running, and JupyterHub gives another loop (a thread's) a client of its own."""

    def __init__(self) -> None:
        self._resolvers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        resolver = self._resolvers.get(loop)
        if resolver is None:
            resolver = self._resolvers[loop] = ThreadedResolver()
        return await resolver.resolve(host, port, family)

    async def close(self) -> None:
        """Nothing to release: the lookups run in the loop's default executor."""
