"""Running a long pure computation on the event loop in slices.

A thread would not help: the GIL lets the loop in only every switch interval while the
thread computes, so the loop still lags tens of milliseconds. A generator that yields
between units of work (core.gang.plan_steps) is driven here for at most `budget` seconds at
a time, then the loop serves whatever waits before the next slice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")


async def run_in_slices(steps: Generator[None, None, T], budget: float = 0.005) -> T:
    deadline = time.perf_counter() + budget
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if time.perf_counter() >= deadline:
            await asyncio.sleep(0)
            deadline = time.perf_counter() + budget
