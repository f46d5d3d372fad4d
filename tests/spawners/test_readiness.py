"""Spawners report ready as soon as the server listens, and stop waiting when it died."""

from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor

from spawners.readiness import wait_until_listening


def run(coroutine):
    # Off this thread: Playwright's sync API may keep an event loop running here.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def starting() -> bool:
    return True


async def died() -> bool:
    return False


def test_it_answers_once_the_port_listens():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        outcome = run(wait_until_listening("127.0.0.1", port, timeout=5, still_starting=starting))
        assert outcome == "listening"


def test_it_gives_up_when_the_server_died():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        outcome = run(wait_until_listening("127.0.0.1", port, timeout=5, still_starting=died))
        assert outcome == "died"


def test_it_gives_up_at_the_timeout():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        waited = run(wait_until_listening("127.0.0.1", port, timeout=0.3, still_starting=starting))
        assert waited == "timeout"
