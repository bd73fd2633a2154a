"""bench/planner: one pass of the gang planner on synthetic snapshots, against the reference
planner it replaced (bench/reference_planner.py), in the same run. No cluster needed.

Nodes of 32 CPU / 128Gi / 110 pods, labelled zone / block / rack (10 hosts a rack, 10 racks a
block, 5 blocks a zone), a third of them partly used by bound pods; gangs of members of 1 to
4 CPU. Prints, per row, the seconds of one pass of each planner (best of --repeat for the new
one), the ratio, and whether both gave the same plan. Then the event-loop lag while passes run
the way the operator runs them (in slices on the loop, handlers/admission.py), p99 and maximum.

    python -m bench.planner [--repeat 3] [--reference-limit 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.reference_planner import plan_admissions as reference_plan
from podgroup_operator.core.gang import GangRequest, MemberRequest, Verdict, plan_admissions, plan_steps
from podgroup_operator.core.placement import HOSTNAME_LABEL, Constraints, NodeInfo, free_capacity
from podgroup_operator.core.resources import Resources
from podgroup_operator.core.topology import TopologyRequest
from podgroup_operator.runtime.loop_lag import LoopLagMonitor
from podgroup_operator.runtime.slices import run_in_slices

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LEVELS = ("bench/zone", "bench/block", "bench/rack", HOSTNAME_LABEL)
RACK = TopologyRequest(LEVELS, LEVELS[2], True)  # required: one rack
BLOCK = TopologyRequest(LEVELS, LEVELS[1], False)  # preferred: the narrowest up to a block
GIB = Decimal(2**30)


@dataclass(frozen=True)
class Row:
    name: str
    nodes: int
    gangs: int
    size: int
    cpu: Sequence[int] = (1, 2, 4)  # member CPU, chosen per gang
    never_fit: int = 0  # gangs of members of 40 CPU, queued ahead of the others
    topology: TopologyRequest | None = None


ROWS = [
    Row("100 nodes, 100x8", 100, 100, 8),
    Row("1000 nodes, 100x8", 1000, 100, 8),
    Row("1000 nodes, 1000x8", 1000, 1000, 8),
    Row("5000 nodes, 500x8", 5000, 500, 8),
    Row("1000 nodes, 100x64", 1000, 100, 64),
    Row("100 nodes, 2000x8", 100, 2000, 8),
    Row("1000 nodes, 300x8 never fit + 1x4", 1000, 1, 4, never_fit=300),
    Row("1000 nodes, 100x8, required rack", 1000, 100, 8, topology=RACK),
    Row("1000 nodes, 100x8, preferred block", 1000, 100, 8, topology=BLOCK),
    Row("1000 nodes, 300x8 never fit + 1x4, required rack", 1000, 1, 4, never_fit=300,
        topology=RACK),
]  # fmt: skip


def make_nodes(count: int, rng: random.Random) -> tuple[list[NodeInfo], dict[str, Resources]]:
    nodes, used = [], {}
    for i in range(count):
        name = f"node-{i:05d}"
        labels = {
            HOSTNAME_LABEL: name,
            "bench-pool": "p",
            LEVELS[0]: f"z{i // 500}",
            LEVELS[1]: f"b{i // 100}",
            LEVELS[2]: f"r{i // 10}",
        }
        alloc = {"cpu": Decimal(32), "memory": 128 * GIB, "pods": Decimal(110)}
        nodes.append(NodeInfo(name, labels, alloc, (), False))
        if rng.random() < 0.33:
            pods = rng.randint(1, 6)
            used[name] = {"cpu": Decimal(2 * pods), "memory": 4 * pods * GIB, "pods": Decimal(pods)}
    return nodes, used


def make_gang(name: str, size: int, cpu: int, waited: float, topology: TopologyRequest | None) -> GangRequest:
    requests = {"cpu": Decimal(cpu), "memory": 2 * cpu * GIB, "pods": Decimal(1)}
    members = tuple(
        # One Constraints object per pod, as observe_pod gives them.
        MemberRequest(f"{name}-w-{i}", "w", dict(requests), Constraints({"bench-pool": "p"}, (), ()))
        for i in range(size)
    )
    return GangRequest(("bench", name), 0, NOW - timedelta(seconds=waited), {"w": size}, members, topology)


def make_gangs(row: Row, rng: random.Random) -> list[GangRequest]:
    # The never-fitting gangs are older: they are considered first, every pass.
    gangs = [make_gang(f"huge-{i:04d}", 8, 40, 300.0 + i, row.topology) for i in range(row.never_fit)]
    gangs += [
        make_gang(f"g-{i:05d}", row.size, rng.choice(row.cpu), 100.0, row.topology) for i in range(row.gangs)
    ]
    return gangs


def timed(fn: Callable[[], list[Verdict]]) -> tuple[float, list[Verdict]]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_row(row: Row, repeat: int, reference_limit: float) -> tuple[float, float | None, bool | None, str]:
    rng = random.Random(14)
    nodes, used = make_nodes(row.nodes, rng)
    gangs = make_gangs(row, rng)
    free = free_capacity(nodes, used)

    def new() -> list[Verdict]:
        return plan_admissions(nodes, free, gangs, now=NOW, starvation_seconds=600)

    best, plan = min((timed(new) for _ in range(repeat)), key=lambda t: t[0])
    admitted = sum(v.admitted for v in plan)
    summary = f"{admitted}/{len(plan)} admitted"
    if row.topology is not None or row.nodes * row.gangs * row.size > reference_limit * 1e5:
        return best, None, None, summary
    old_seconds, old_plan = timed(lambda: reference_plan(nodes, free, gangs, now=NOW, starvation_seconds=600))
    return best, old_seconds, old_plan == plan, summary


async def lag_while_planning(rows: Sequence[Row], passes: int) -> LoopLagMonitor:
    """The loop stays responsive while passes run the way the admitter runs them. Each row's
    snapshot is built while the monitor is paused: only the planning is measured (a pause
    of the garbage collector for the objects the pass makes counts, as in the operator)."""
    monitor = LoopLagMonitor(interval=0.005)
    for row in rows:
        rng = random.Random(14)
        nodes, used = make_nodes(row.nodes, rng)
        free, gangs = free_capacity(nodes, used), make_gangs(row, rng)
        gc.collect()
        monitor.start()
        for _ in range(passes):
            await run_in_slices(plan_steps(nodes, free, gangs, now=NOW, starvation_seconds=600))
        await monitor.stop()
        del nodes, used, free, gangs
    return monitor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--reference-limit",
        type=float,
        default=1000.0,
        help="skip the reference planner on rows above this many x 1e5 node-member pairs",
    )
    args = parser.parse_args()
    print("bench/planner: one pass of plan_admissions; reference = the planner before #14")
    print(f"  {'row':<52} {'new s':>8} {'reference s':>12} {'speed-up':>9}  same plan  outcome")
    for row in ROWS:
        new, old, same, summary = run_row(row, args.repeat, args.reference_limit)
        goal = 0.05 if row.never_fit else 0.5
        mark = "ok" if new <= goal else "OVER GOAL"
        ref = f"{old:12.3f}" if old is not None else f"{'-':>12}"
        ratio = f"{old / new:8.0f}x" if old is not None else f"{'-':>9}"
        same_text = "-" if same is None else ("yes" if same else "NO")
        print(
            f"  {row.name:<52} {new:8.4f} {ref} {ratio}  {same_text:<9}  {summary}; goal <= {goal} s {mark}"
        )
    monitor = asyncio.run(lag_while_planning([ROWS[2], ROWS[3], ROWS[7]], passes=5))
    print(
        f"  event-loop lag while planning in slices: p99 {monitor.quantile(0.99) * 1000:.1f} ms, "
        f"max {monitor.max_lag * 1000:.1f} ms over {monitor.samples} samples (goal max <= 50 ms)"
    )


if __name__ == "__main__":
    main()
