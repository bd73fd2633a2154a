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


class SliceClock:
    """The seconds the computation itself ran, without the waits between slices."""

    def __init__(self) -> None:
        self.busy = 0.0


async def run_in_slices(
    steps: Generator[None, None, T], budget: float = 0.005, clock: SliceClock | None = None
) -> T:
    start = time.perf_counter()
    deadline = start + budget
    while True:
        try:
            next(steps)
        except StopIteration as done:
            if clock is not None:
                clock.busy += time.perf_counter() - start
            return done.value  # type: ignore[no-any-return]
        now = time.perf_counter()
        if now >= deadline:
            if clock is not None:
                clock.busy += now - start
            await asyncio.sleep(0)
            start = time.perf_counter()
            deadline = start + budget
