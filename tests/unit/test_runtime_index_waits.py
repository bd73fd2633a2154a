"""runtime.index_waits on Kopf's own ToggleSet: the waiters for a state share one wait on the
set's condition, all of them return when Kopf's wait would, and a cancelled waiter leaves the
others waiting."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits import aiotoggles

from podgroup_operator.runtime.index_waits import shared

wait_for = shared(aiotoggles.ToggleSet.wait_for)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_many_waiters_wait_once_on_the_condition_and_all_return_when_the_set_is_on() -> None:
    async def scenario() -> None:
        toggles = aiotoggles.ToggleSet(all)
        objects = [await toggles.make_toggle(name=f"object-{i}") for i in range(200)]
        waiters = [asyncio.create_task(wait_for(toggles, True)) for _ in range(200)]
        await _settle()
        assert len(toggles._condition._waiters) == 1  # type: ignore[attr-defined]
        for toggle in objects[:-1]:
            await toggles.drop_toggle(toggle)
        await _settle()
        assert not any(w.done() for w in waiters), "returned while one object is not indexed"
        await toggles.drop_toggle(objects[-1])
        await asyncio.wait_for(asyncio.gather(*waiters), 5)

    asyncio.run(scenario())


def test_a_set_already_in_the_state_returns_at_once() -> None:
    async def scenario() -> None:
        toggles = aiotoggles.ToggleSet(all)
        await asyncio.wait_for(wait_for(toggles, True), 1)
        await toggles.make_toggle(name="off")
        await asyncio.wait_for(wait_for(toggles, False), 1)

    asyncio.run(scenario())


def test_a_cancelled_waiter_leaves_the_others_waiting_and_a_later_wait_starts_anew() -> None:
    async def scenario() -> None:
        toggles = aiotoggles.ToggleSet(all)
        toggle = await toggles.make_toggle(name="object")
        first, second = (asyncio.create_task(wait_for(toggles, True)) for _ in range(2))
        await _settle()
        first.cancel()
        await _settle()
        assert first.cancelled() and not second.done()
        await toggle.turn_to(True)
        await asyncio.wait_for(second, 5)
        await toggle.turn_to(False)
        later = asyncio.create_task(wait_for(toggles, True))
        await _settle()
        assert not later.done(), "a finished shared wait answered a new one"
        await toggle.turn_to(True)
        await asyncio.wait_for(later, 5)

    asyncio.run(scenario())
