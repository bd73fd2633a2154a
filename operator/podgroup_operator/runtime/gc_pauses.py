"""The garbage collector's pauses on the operator's only event loop: measured, and kept short.

CPython's full collection walks every object it tracks. With 10,000 pods in the indexes that is
about 400,000 objects, and the loop stops for 0.4 s (measured on this project's machine): watch
events, writes, lease renewals and health checks all wait. Objects that have survived a full
collection are long-lived (index entries, Kopf's and the client's own structures), so after
each full collection they are moved out of the collector's sight with `gc.freeze()`: the next
full collection walks only what was created since. Frozen objects are still freed by reference
counting the moment they are dropped (an index entry replaced by a newer pod body is); only a
reference cycle among them waits, for the sweep that unfreezes and collects everything once
every `sweep_seconds` (one long pause an hour instead of one every few seconds).

What the imports left (modules, classes, the client's models) is frozen when the operator
starts, before it lists the cluster: the first full collections, during that listing, walked
it all. The freeze after a full collection is looked for every 0.1 s: a second full collection
before it would walk the first one's survivors again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any

from podgroup_operator.metrics import GC_CPU_MAX, GC_PAUSE, GC_PAUSE_MAX

OLDEST = 2  # the generation of a full collection


class GcPauses:
    def __init__(
        self,
        sweep_seconds: float = 3600.0,
        freeze: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sweep_seconds = sweep_seconds
        self.freeze = freeze
        self.max_pause = 0.0
        self.max_cpu = 0.0
        self._clock = clock
        self._started: float | None = None
        self._cpu_started = 0.0
        self._full_done = False  # a full collection finished since the last freeze
        self._last_sweep = clock()
        self._task: asyncio.Task[None] | None = None

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks: times each collection; notes that a full one finished."""
        if phase == "start":
            self._started, self._cpu_started = time.perf_counter(), time.thread_time()
            return
        if self._started is None:
            return
        pause, self._started = time.perf_counter() - self._started, None
        cpu = time.thread_time() - self._cpu_started
        generation = int(info.get("generation", 0))
        GC_PAUSE.labels(str(generation)).observe(pause)
        if pause > self.max_pause:
            self.max_pause = pause
            GC_PAUSE_MAX.set(pause)
        if cpu > self.max_cpu:
            self.max_cpu = cpu
            GC_CPU_MAX.set(cpu)
        if generation == OLDEST:
            self._full_done = True

    def tend(self) -> str | None:
        """Outside any collection (gc.freeze must not run inside a callback): freeze what a full
        collection left, or sweep when one is due. Returns what it did, for the tests."""
        if not self.freeze:
            return None
        if self._clock() - self._last_sweep >= self.sweep_seconds:
            self._last_sweep = self._clock()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._full_done = False
            return "swept"
        if self._full_done:
            self._full_done = False
            gc.freeze()
            return "frozen"
        return None

    def start(self, interval: float = 0.1) -> None:
        if self.freeze:
            gc.collect()
            gc.freeze()
        gc.callbacks.append(self.on_gc)
        self._task = asyncio.create_task(self._run(interval), name="gc pauses")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self.on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.tend()
