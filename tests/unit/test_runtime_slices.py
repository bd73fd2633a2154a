"""runtime.slices and runtime.loop_lag: a long computation gives the event loop back between
slices, and the lag monitor records what it sees. No timing is asserted."""

from __future__ import annotations

import asyncio
from collections.abc import Generator

from podgroup_operator.runtime.loop_lag import LoopLagMonitor
from podgroup_operator.runtime.slices import run_in_slices


def steps(log: list[str], n: int) -> Generator[None, None, int]:
    for i in range(n):
        log.append(f"step {i}")
        yield
    return n * 10


def test_the_result_is_the_generators_return_value() -> None:
    assert asyncio.run(run_in_slices(steps([], 3), budget=3600)) == 30


def test_other_tasks_run_between_slices() -> None:
    log: list[str] = []

    async def other() -> None:
        for i in range(3):
            log.append(f"other {i}")
            await asyncio.sleep(0)

    async def main() -> int:
        task = asyncio.create_task(other())
        await asyncio.sleep(0)  # the other task starts first
        result = await run_in_slices(steps(log, 3), budget=0)  # a slice is one step
        await task
        return result

    assert asyncio.run(main()) == 30
    assert log[:4] == ["other 0", "step 0", "other 1", "step 1"]


def test_the_lag_monitor_keeps_the_maximum_and_quantiles() -> None:
    monitor = LoopLagMonitor()
    for lag in (0.001, 0.002, -0.001, 0.1):
        monitor.record(lag, cpu=1.0)
    assert monitor.samples == 4
    assert monitor.max_lag == 0.1
    assert monitor.max_own == 0.1  # the process ran the whole time: all of it may be its own
    assert monitor.quantile(0.0) == 0.0  # a timer early by a clock tick counts as no lag
    assert monitor.quantile(0.99) == 0.1
    assert LoopLagMonitor().quantile(0.99) == 0.0


def test_lag_while_the_process_had_no_cpu_is_not_its_own() -> None:
    monitor = LoopLagMonitor()
    monitor.record(0.8, cpu=0.03)  # late by 800 ms, of which the process ran 30 ms
    monitor.record(0.02, cpu=-0.001)  # a CPU clock's tick backwards counts as none
    assert monitor.max_lag == 0.8
    assert monitor.max_own == 0.03
