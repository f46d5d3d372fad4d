"""A person's network is never removed under a start that needs it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from spawners.network_guard import NetworkGuard


def run(coroutine):
    with ThreadPoolExecutor(1) as thread:  # off this thread: Playwright may own its loop
        return thread.submit(asyncio.run, coroutine).result()


def test_a_network_may_be_removed_when_no_start_needs_it():
    async def scenario():
        guard = NetworkGuard()
        async with guard.removing("mlht-ada") as may_remove:
            return may_remove

    assert run(scenario()) is True


def test_a_network_is_kept_while_a_start_needs_it_and_free_again_after():
    async def scenario():
        guard = NetworkGuard()
        async with guard.starting("mlht-ada"):
            async with guard.removing("mlht-ada") as during:
                pass
            async with guard.removing("mlht-bob") as other_person:
                pass
        async with guard.removing("mlht-ada") as after:
            return during, other_person, after

    assert run(scenario()) == (False, True, True)


def test_a_start_waits_for_a_removal_under_way():
    async def scenario():
        guard, order = NetworkGuard(), []
        removal_began = asyncio.Event()

        async def remove():
            async with guard.removing("mlht-ada") as may_remove:
                removal_began.set()
                await asyncio.sleep(0.05)  # the engine removing the network
                order.append(("removed", may_remove))

        async def start():
            await removal_began.wait()
            async with guard.starting("mlht-ada"):
                order.append(("start looks for the network", None))

        await asyncio.gather(remove(), start())
        return order

    assert run(scenario()) == [("removed", True), ("start looks for the network", None)]
