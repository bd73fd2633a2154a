"""runtime.workqueue: one worker per key at a time, deduplication, requeue and backoff.

Each test runs its own event loop with asyncio.run (no pytest plugin). Nothing asserts that
something was fast: tests assert order and counts, and wait for conditions with a generous
bound, so a loaded machine makes them slower, never red.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, ParamSpec

import pytest

from podgroup_operator.metrics import REGISTRY
from podgroup_operator.runtime.workqueue import Backoff, Key, RetryLater, WorkQueue

P = ParamSpec("P")
WAIT = 5.0  # bound of every wait for a condition
TEST_TIMEOUT = 20.0  # bound of a whole test


def async_test(fn: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test body in a fresh event loop."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), TEST_TIMEOUT))

    return run


async def wait_until(predicate: Callable[[], bool], what: str = "condition") -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not predicate():
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {WAIT}s") from None


@contextlib.asynccontextmanager
async def running(queue: WorkQueue) -> AsyncIterator[WorkQueue]:
    queue.start()
    try:
        yield queue
    finally:
        await asyncio.wait_for(queue.stop(), WAIT)


class Recorder:
    """A reconcile that records its calls, then does whatever `then` says (default: succeed)."""

    def __init__(self, then: Callable[[Key, int], Awaitable[float | None]] | None = None) -> None:
        self.calls: list[Key] = []
        self.then = then

    async def __call__(self, key: Key) -> float | None:
        self.calls.append(key)
        if self.then is None:
            return None
        return await self.then(key, self.calls.count(key))


@dataclass
class RecordingBackoff(Backoff):
    delays: list[float] = field(default_factory=list)

    def next(self, key: Key) -> float:
        delay = super().next(key)
        self.delays.append(delay)
        return delay


async def settle(queue: WorkQueue, rec: Recorder) -> None:
    """Wait until a sentinel queued now has run and the queue is empty: with one worker,
    everything enqueued before it has run too."""
    sentinel = "sentinel"
    queue.add(sentinel)
    await wait_until(lambda: sentinel in rec.calls and len(queue) == 0, "idle queue")


# --- deduplication ---------------------------------------------------------------------------


@async_test
async def test_keys_added_while_waiting_are_deduplicated() -> None:
    rec = Recorder()
    queue = WorkQueue(rec, workers=1)
    for key in ["a", "a", "b", "a", "b", "c"]:
        queue.add(key)
    assert len(queue) == 3
    async with running(queue):
        await settle(queue, rec)
    assert rec.calls == ["a", "b", "c", "sentinel"]


@pytest.mark.parametrize("adds", [1, 3], ids=["added-once", "added-three-times"])
@async_test
async def test_key_added_while_processing_runs_exactly_once_more(adds: int) -> None:
    release = asyncio.Event()

    async def block_first(key: Key, n: int) -> None:
        if key == "a" and n == 1:
            await release.wait()

    rec = Recorder(block_first)
    queue = WorkQueue(rec, workers=1)
    async with running(queue):
        queue.add("a")
        await wait_until(lambda: rec.calls == ["a"], "first run")
        for _ in range(adds):
            queue.add("a")
        assert len(queue) == 1  # active, not queued a second time
        release.set()
        await wait_until(lambda: rec.calls.count("a") == 2, "second run")
        await settle(queue, rec)
    assert rec.calls == ["a", "a", "sentinel"]


# --- one worker per key ----------------------------------------------------------------------


@async_test
async def test_one_key_is_never_processed_by_two_workers_at_once() -> None:
    in_flight: Counter[Key] = Counter()
    most: Counter[Key] = Counter()

    async def overlap(key: Key, n: int) -> None:
        in_flight[key] += 1
        most[key] = max(most[key], in_flight[key])
        try:
            for _ in range(3):
                await asyncio.sleep(0.001)
        finally:
            in_flight[key] -= 1

    rec = Recorder(overlap)
    queue = WorkQueue(rec, workers=4)
    async with running(queue):
        for _ in range(40):
            for key in ("a", "b"):
                queue.add(key)
            await asyncio.sleep(0.001)
        await wait_until(lambda: len(queue) == 0, "idle queue")
    assert most == Counter({"a": 1, "b": 1})
    assert rec.calls.count("a") >= 2
    assert rec.calls.count("b") >= 2


@async_test
async def test_distinct_keys_run_concurrently() -> None:
    both = asyncio.Event()
    in_flight: set[Key] = set()

    async def meet(key: Key, n: int) -> None:
        in_flight.add(key)
        if len(in_flight) == 2:
            both.set()
        await both.wait()

    rec = Recorder(meet)
    async with running(WorkQueue(rec, workers=2)) as queue:
        queue.add("a")
        queue.add("b")
        await wait_until(both.is_set, "both keys in flight")
        await wait_until(lambda: len(queue) == 0, "idle queue")
    assert Counter(rec.calls) == Counter({"a": 1, "b": 1})


@async_test
async def test_len_counts_waiting_and_active_keys() -> None:
    release = asyncio.Event()

    async def block(key: Key, n: int) -> None:
        await release.wait()

    rec = Recorder(block)
    async with running(WorkQueue(rec, workers=1)) as queue:
        assert len(queue) == 0
        queue.add("a")
        queue.add("b")
        assert len(queue) == 2
        await wait_until(lambda: rec.calls == ["a"], "a active")
        assert len(queue) == 2  # a active, b waiting
        release.set()
        await wait_until(lambda: len(queue) == 0, "idle queue")
    assert rec.calls == ["a", "b"]


# --- failures and backoff --------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [RetryLater("the API server refused pod train-worker-1"), RuntimeError("boom")],
    ids=["retry-later", "unexpected-exception"],
)
@async_test
async def test_failures_are_retried_with_exponential_backoff(error: Exception) -> None:
    async def fail_three_times(key: Key, n: int) -> None:
        if n <= 3:
            raise error

    rec = Recorder(fail_three_times)
    backoff = RecordingBackoff(base=0.001, cap=1.0)
    async with running(WorkQueue(rec, workers=2, backoff=backoff)) as queue:
        queue.add("a")
        await wait_until(lambda: len(rec.calls) == 4 and len(queue) == 0, "four attempts")
    assert rec.calls == ["a"] * 4
    assert backoff.delays == [0.001, 0.002, 0.004]
    assert backoff.failures == {}  # forgotten after the success


def reconciles(result: str) -> float:
    return REGISTRY.get_sample_value("podgroup_reconciles_total", {"result": result}) or 0.0


@async_test
async def test_every_reconcile_is_counted_by_result() -> None:
    async def retry_then_fail_then_succeed(key: Key, n: int) -> None:
        if n == 1:
            raise RetryLater("the API server refused pod train-worker-1")
        if n == 2:
            raise RuntimeError("boom")

    before = {r: reconciles(r) for r in ("success", "retry", "error")}
    rec = Recorder(retry_then_fail_then_succeed)
    async with running(WorkQueue(rec, workers=1, backoff=Backoff(base=0.001, cap=0.002))) as queue:
        queue.add("a")
        await wait_until(lambda: len(rec.calls) == 3 and len(queue) == 0, "three attempts")
    assert {r: reconciles(r) - before[r] for r in before} == {"success": 1, "retry": 1, "error": 1}


@async_test
async def test_a_failing_key_does_not_block_others() -> None:
    async def bad_always_fails(key: Key, n: int) -> None:
        if key == "bad":
            raise RetryLater("refused")

    rec = Recorder(bad_always_fails)
    queue = WorkQueue(rec, workers=1, backoff=Backoff(base=0.001, cap=0.002))
    async with running(queue):
        queue.add("bad")
        await wait_until(lambda: rec.calls.count("bad") >= 3, "retries of bad")
        queue.add("good")
        await wait_until(lambda: "good" in rec.calls, "good")
        queue.forget("bad")
    assert rec.calls.count("good") == 1


BACKOFF_CASES = [
    pytest.param(0.5, 300.0, 6, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], id="doubles"),
    pytest.param(0.5, 3.0, 6, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0], id="capped"),
    pytest.param(0.001, 300.0, 4, [0.001, 0.002, 0.004, 0.008], id="tiny-base"),
    pytest.param(1.0, 300.0, 12, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300], id="default-cap"),
]


@pytest.mark.parametrize(("base", "cap", "n", "delays"), BACKOFF_CASES)
def test_backoff_next(base: float, cap: float, n: int, delays: list[float]) -> None:
    backoff = Backoff(base=base, cap=cap)
    assert [backoff.next("k") for _ in range(n)] == pytest.approx(delays)


def test_backoff_is_per_key_and_forget_resets_it() -> None:
    backoff = Backoff(base=1.0, cap=100.0)
    assert [backoff.next("a"), backoff.next("a"), backoff.next("b"), backoff.next("a")] == [1, 2, 1, 4]
    backoff.forget("a")
    backoff.forget("never-failed")
    assert [backoff.next("a"), backoff.next("b")] == [1, 2]


def test_backoff_stays_capped_after_very_many_failures() -> None:
    backoff = Backoff(base=0.5, cap=300.0)
    backoff.failures["k"] = 1100
    assert backoff.next("k") == 300.0


# --- delayed adds and requeue ----------------------------------------------------------------


@async_test
async def test_add_after_runs_later() -> None:
    loop = asyncio.get_running_loop()
    ran_at: dict[Key, float] = {}

    async def stamp(key: Key, n: int) -> None:
        ran_at[key] = loop.time()

    rec = Recorder(stamp)
    async with running(WorkQueue(rec, workers=1)) as queue:
        asked_at = loop.time()
        queue.add_after("late", 0.1)
        queue.add("now")
        await wait_until(lambda: "late" in rec.calls, "late")
    assert rec.calls == ["now", "late"]
    assert ran_at["late"] - asked_at >= 0.09  # never early (a lower bound cannot flake)


@pytest.mark.parametrize("delay", [0, -1.0], ids=["zero", "negative"])
@async_test
async def test_add_after_without_delay_is_add(delay: float) -> None:
    rec = Recorder()
    queue = WorkQueue(rec, workers=1)
    queue.add_after("a", delay)
    assert len(queue) == 1
    async with running(queue):
        await settle(queue, rec)
    assert rec.calls == ["a", "sentinel"]


@pytest.mark.parametrize(
    "delays", [(60.0, 0.01), (0.01, 60.0)], ids=["earlier-replaces-later", "later-keeps-earlier"]
)
@async_test
async def test_add_after_earlier_timer_wins(delays: tuple[float, float]) -> None:
    rec = Recorder()
    async with running(WorkQueue(rec, workers=1)) as queue:
        for delay in delays:
            queue.add_after("a", delay)
        await wait_until(lambda: "a" in rec.calls, "run after the earlier delay")
        await settle(queue, rec)
    assert rec.calls == ["a", "sentinel"]


@async_test
async def test_forget_cancels_a_pending_timer() -> None:
    rec = Recorder()
    async with running(WorkQueue(rec, workers=1)) as queue:
        queue.add_after("a", 0.05)
        queue.forget("a")
        queue.add_after("b", 0.2)  # fires after a would have
        await wait_until(lambda: "b" in rec.calls and len(queue) == 0, "b")
    assert rec.calls == ["b"]


@async_test
async def test_forget_cancels_a_retry_and_resets_backoff() -> None:
    loop = asyncio.get_running_loop()
    queue: WorkQueue

    async def fail_and_forget(key: Key, n: int) -> None:
        if key == "a":
            # runs on the next loop iteration: after the worker armed the retry, before it fires
            loop.call_soon(queue.forget, key)
            raise RetryLater("refused")

    rec = Recorder(fail_and_forget)
    backoff = Backoff(base=0.05)
    queue = WorkQueue(rec, workers=1, backoff=backoff)
    async with running(queue):
        queue.add("a")
        queue.add_after("b", 0.2)  # fires after the retry would have
        await wait_until(lambda: "b" in rec.calls and len(queue) == 0, "b")
    assert rec.calls == ["a", "b"]
    assert backoff.failures == {}


@async_test
async def test_requeue_after_returned_by_reconcile() -> None:
    async def look_again_once(key: Key, n: int) -> float | None:
        return 0.01 if key == "a" and n == 1 else None

    rec = Recorder(look_again_once)
    async with running(WorkQueue(rec, workers=1)) as queue:
        queue.add("a")
        await wait_until(lambda: rec.calls.count("a") == 2, "second look")
        await settle(queue, rec)
    assert rec.calls == ["a", "a", "sentinel"]


@async_test
async def test_requeue_zero_runs_again_right_away() -> None:
    async def again_once(key: Key, n: int) -> float | None:
        return 0 if key == "a" and n == 1 else None

    rec = Recorder(again_once)
    async with running(WorkQueue(rec, workers=1)) as queue:
        queue.add("a")
        await wait_until(lambda: rec.calls.count("a") == 2, "second run")
        await settle(queue, rec)
    assert rec.calls == ["a", "a", "sentinel"]


# --- stop ------------------------------------------------------------------------------------


@async_test
async def test_stop_cancels_workers_and_in_flight_reconciles() -> None:
    cancelled: list[Key] = []

    async def hang(key: Key, n: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    rec = Recorder(hang)
    queue = WorkQueue(rec, workers=3)
    queue.start()
    queue.add("a")
    await wait_until(lambda: rec.calls == ["a"], "a in flight")
    await asyncio.wait_for(queue.stop(), WAIT)
    assert cancelled == ["a"]
    # no worker is left to take new keys
    queue.add("b")
    await asyncio.sleep(0.05)
    assert rec.calls == ["a"]


@async_test
async def test_stop_cancels_pending_timers() -> None:
    rec = Recorder()
    queue = WorkQueue(rec, workers=1)
    queue.start()
    queue.add_after("a", 0.02)
    await asyncio.wait_for(queue.stop(), WAIT)
    await asyncio.sleep(0.1)  # the timer would have fired by now
    assert len(queue) == 0
    assert rec.calls == []


@async_test
async def test_stop_before_start_is_harmless() -> None:
    queue = WorkQueue(Recorder())
    await asyncio.wait_for(queue.stop(), WAIT)
