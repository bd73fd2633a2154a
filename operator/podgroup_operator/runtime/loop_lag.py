"""Event-loop lag: how late a timer on the operator's only event loop fires.

Every watch event, pod creation, lease renewal and health check is served by that loop; a
handler that blocks it (a long planning pass, say) shows up here as lag. A task sleeps
`interval` and measures how much later than asked it woke up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from podgroup_operator.metrics import EVENT_LOOP_LAG, EVENT_LOOP_LAG_MAX


class LoopLagMonitor:
    def __init__(self, interval: float = 0.1, keep: int = 100_000) -> None:
        self.interval = interval
        self.recent: deque[float] = deque(maxlen=keep)  # for the benchmarks' quantiles
        self.max_lag = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self.recent.append(lag)
        self.samples += 1
        EVENT_LOOP_LAG.observe(lag)
        if lag > self.max_lag:
            self.max_lag = lag
            EVENT_LOOP_LAG_MAX.set(lag)

    def quantile(self, q: float) -> float:
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.record(loop.time() - start - self.interval)
