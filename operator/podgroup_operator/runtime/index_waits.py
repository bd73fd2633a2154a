"""One waiter per Kopf toggle set, not one per object: the operator's start at 1000 nodes.

Before any handler runs, Kopf fills the indexes from the initial listings. Every object listed
gets its own toggle in one set (kopf/_core/reactor/queueing.py), and every object's worker, once
it has indexed its object, waits for the whole set to be on (`ToggleSet.wait_for`, processing.py)
on the set's one asyncio.Condition. Each toggle made, turned or dropped wakes every waiter, and
each woken waiter takes the condition's lock in turn to look again: with N objects listed, about
N x N wake-ups. At 1000 nodes and 2000 pods that kept the operator's only event loop busy for a
minute after every start, handling nothing (bench/gang, the operator started and no member
created for 30-60 s; py-spy: `ToggleSet.make_toggle` -> `Condition.notify_all`).

Here the set's waiters for one state share one task that waits on the condition; all of them
await that task. Each change then wakes one waiter, whatever N is. What is waited for, and when
it ends, are Kopf's own: the shared task is Kopf's `wait_for`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from kopf._cogs.aiokits import aiotoggles

_SHARED = "_pgo_shared_waits"  # attribute of a ToggleSet: state -> the task that waits for it

WaitFor = Callable[[aiotoggles.ToggleSet, bool], Coroutine[Any, Any, None]]


def shared(wait_for: WaitFor) -> WaitFor:
    """`ToggleSet.wait_for`, with all the waiters for one state awaiting one call of it."""

    async def shared_wait_for(self: aiotoggles.ToggleSet, state: bool) -> None:
        state = bool(state)
        if self.is_on() == state:
            return
        waits: dict[bool, asyncio.Task[None]] = self.__dict__.setdefault(_SHARED, {})
        task = waits.get(state)
        if task is None or task.done():
            task = waits[state] = asyncio.ensure_future(wait_for(self, state))
        # A waiter cancelled (its object's worker stopped) leaves the others' wait alone.
        await asyncio.shield(task)

    setattr(shared_wait_for, "shared", True)  # noqa: B010  - marks the wrapper, applied once
    return shared_wait_for


def share_index_waits() -> None:
    """Install `shared` on Kopf's ToggleSet, once."""
    if not getattr(aiotoggles.ToggleSet.wait_for, "shared", False):
        aiotoggles.ToggleSet.wait_for = shared(aiotoggles.ToggleSet.wait_for)  # type: ignore[method-assign,assignment]
