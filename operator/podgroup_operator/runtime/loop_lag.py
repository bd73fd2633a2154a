"""Event-loop lag: how late a timer on the operator's only event loop fires, and how much of
that the operator's own work can account for.

Every watch event, pod creation, lease renewal and health check is served by that loop; a
handler that blocks it (a long planning pass, say) shows up here as lag. A task sleeps
`interval` and measures how much later than asked it woke up.

A timer is also late when the machine gives the process no CPU (on a busy node, or the 2 cores
of a test machine that also run the API server and etcd). The process's CPU time while the
timer waited bounds the part the operator itself caused: the loop cannot have been held by its
own work for longer than the process ran. That bound is the `own` figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

from podgroup_operator.metrics import (
    EVENT_LOOP_LAG,
    EVENT_LOOP_LAG_MAX,
    EVENT_LOOP_OWN_LAG,
    EVENT_LOOP_OWN_LAG_MAX,
)


class LoopLagMonitor:
    def __init__(
        self,
        interval: float = 0.025,
        keep: int = 100_000,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.interval = interval
        self.recent: deque[float] = deque(maxlen=keep)  # for the benchmarks' quantiles
        self.max_lag = 0.0
        self.max_own = 0.0
        self.samples = 0
        self._cpu_clock = cpu_clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def record(self, lag: float, cpu: float) -> None:
        """lag: how late the timer fired; cpu: the process's CPU seconds since it was set."""
        lag = max(0.0, lag)
        own = min(lag, max(0.0, cpu))
        self.recent.append(lag)
        self.samples += 1
        EVENT_LOOP_LAG.observe(lag)
        EVENT_LOOP_OWN_LAG.observe(own)
        if lag > self.max_lag:
            self.max_lag = lag
            EVENT_LOOP_LAG_MAX.set(lag)
        if own > self.max_own:
            self.max_own = own
            EVENT_LOOP_OWN_LAG_MAX.set(own)

    def quantile(self, q: float) -> float:
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start, cpu_start = loop.time(), self._cpu_clock()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - start - self.interval, self._cpu_clock() - cpu_start)
