"""A keyed work queue in the manner of client-go's: each key is processed by one worker at
a time, enqueueing a key already waiting is a no-op, and a key enqueued while it is being
processed runs once more afterwards. Failed keys are retried with exponential backoff.

Kopf delivers events per object; a PodGroup's reconcile is triggered by events of the group
and of all its pods, so collapsing bursts of events into one reconcile per key is what keeps
the API traffic proportional to the work rather than to the events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from podgroup_operator.core.backoff import backoff_seconds
from podgroup_operator.metrics import RECONCILES

logger = logging.getLogger(__name__)

Key = Hashable


class RetryLater(Exception):
    """Raised by a reconcile that could not finish for an expected reason (the API server
    refused something): retried with backoff and logged without a traceback."""


# A reconcile returns the seconds after which the key wants another look, or None.
Reconcile = Callable[[Key], Awaitable[float | None]]


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 300.0
    failures: dict[Key, int] = field(default_factory=dict)

    def next(self, key: Key) -> float:
        n = self.failures.get(key, 0)
        self.failures[key] = n + 1
        return backoff_seconds(n + 1, self.base, self.cap)

    def forget(self, key: Key) -> None:
        self.failures.pop(key, None)


class WorkQueue:
    def __init__(self, reconcile: Reconcile, workers: int = 8, backoff: Backoff | None = None) -> None:
        self._reconcile = reconcile
        self._workers = workers
        self._backoff = backoff or Backoff()
        self._ready: asyncio.Queue[Key] = asyncio.Queue()
        self._waiting: set[Key] = set()  # in _ready, not yet taken
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()  # enqueued while active
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._waiting:
            self._waiting.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        """Enqueue after `delay` seconds; an earlier pending timer for the key wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        if existing is not None and existing.when() <= loop.time() + delay:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def forget(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._backoff.forget(key)

    def __len__(self) -> int:
        return len(self._waiting) + len(self._active)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"reconcile-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            self._waiting.discard(key)
            self._active.add(key)
            try:
                requeue = await self._reconcile(key)
            except asyncio.CancelledError:
                raise
            except RetryLater as exc:
                RECONCILES.labels("retry").inc()
                delay = self._backoff.next(key)
                logger.info("reconcile of %s: %s; retrying in %.1fs", key, exc, delay)
                self.add_after(key, delay)
            except Exception:
                RECONCILES.labels("error").inc()
                delay = self._backoff.next(key)
                logger.exception("reconcile of %s failed; retrying in %.1fs", key, delay)
                self.add_after(key, delay)
            else:
                RECONCILES.labels("success").inc()
                self._backoff.forget(key)
                if requeue is not None:
                    self.add_after(key, requeue)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key)
