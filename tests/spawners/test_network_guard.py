"""A person's network is never removed under a start that needs it."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from spawners.network_guard import NetworkGuard


async def found() -> str:
    return "the network"


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
        async with guard.starting("mlht-ada", found):
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
            async with guard.starting("mlht-ada", found):
                order.append(("start looks for the network", None))

        await asyncio.gather(remove(), start())
        return order

    assert run(scenario()) == [("removed", True), ("start looks for the network", None)]


def test_two_starts_of_one_person_make_the_network_once():
    async def scenario():
        guard, made = NetworkGuard(), []

        async def ensure():
            if not made:  # what _ensure_network does: inspect, create when missing
                await asyncio.sleep(0.05)  # the engine's answer to inspect, then create
                made.append("mlht-ada")
            return made[0]

        async def start():
            async with guard.starting("mlht-ada", ensure) as network:
                return network

        return await asyncio.gather(start(), start()), made

    assert run(scenario()) == (["mlht-ada", "mlht-ada"], ["mlht-ada"])


def test_a_start_that_cannot_make_the_network_does_not_keep_it():
    async def scenario():
        guard = NetworkGuard()

        async def refused():
            raise RuntimeError("no address pool")

        try:
            async with guard.starting("mlht-ada", refused):
                pass
        except RuntimeError:
            pass
        async with guard.removing("mlht-ada") as may_remove:
            return may_remove

    assert run(scenario()) is True
