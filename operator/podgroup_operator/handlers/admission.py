"""The gang admitter: one task for the whole operator, since admission is a decision over all
waiting gangs and all nodes at once. Woken by any change that may open room; each pass takes a
snapshot from the indexes, asks the pure planner, and releases the gangs that fit."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from podgroup_operator.config import Config
from podgroup_operator.core.admission import (
    BackingOff,
    Usage,
    admission_request,
    node_usage,
    pending_releases,
    release_pin,
)
from podgroup_operator.core.gang import GangRequest, Verdict, plan_steps
from podgroup_operator.core.labels import GANG_GATE
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import HOSTNAME_LABEL, free_capacity
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.memory import GroupMemory
from podgroup_operator.metrics import (
    GANG_ADMISSION_WAIT,
    GANG_PLANNING_SECONDS,
    GANG_RELEASE_LATENCY,
    GANGS_WAITING,
)
from podgroup_operator.runtime.slices import SliceClock, run_in_slices

logger = logging.getLogger(__name__)

# After a pass that cost C seconds of the loop, the next one starts no sooner than
# PAUSE_FACTOR x C later (at most MAX_PAUSE): planning takes at most a quarter of the loop, however
# many pod events arrive. Without it, a pass on every event burst of a 1000-node cluster kept a
# core busy, and the API server, kube-scheduler and the operator's own writes starved for it.
PAUSE_FACTOR = 3.0
MAX_PAUSE = 1.0


class GangAdmitter:
    def __init__(self, ctx: OperatorContext, config: Config) -> None:
        self._ctx = ctx
        self._config = config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gang-admitter")

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # A burst of watch events (a gang's pods created one by one) becomes one pass.
            await asyncio.sleep(self._config.admission_debounce_seconds)
            self._wake.clear()
            try:
                cost = await self.admit_once()
            except Exception:
                logger.exception("gang admission pass failed; retrying")
                self._wake_at(1.0)
                continue
            await asyncio.sleep(min(MAX_PAUSE, PAUSE_FACTOR * cost))

    def _wake_at(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer.when() <= loop.time() + delay:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self.poke)

    def _reservations(self) -> dict[str, Usage]:
        reserved = []
        for key, memory in self._ctx.memory.groups():
            if not memory.reserved:
                continue
            pods = {p.name: p for p in self._ctx.member_pods.get(key, [])}
            memory.reserved = pending_releases(memory.reserved, pods.values())
            reserved += [(node, pods[member].requests) for member, node in memory.reserved.items()]
        return node_usage(self._ctx.node_pods, reserved)

    def _waiting_gangs(self, now: datetime) -> list[GangRequest]:
        gangs = []
        for key, store in list(self._ctx.member_pods.items()):
            group = self._ctx.group(key)
            memory = self._ctx.memory.known(key)
            reserved = memory.reserved if memory and group and memory.uid == group.uid else {}
            request = admission_request(key, group, list(store), reserved, now)
            if isinstance(request, BackingOff):
                self._wake_at(request.seconds)
            elif request is not None:
                gangs.append(request)
        return gangs

    async def admit_once(self) -> float:
        """One pass; returns the seconds of the event loop it took (its planning slices and the
        snapshot, not the waits between slices nor the releases)."""
        ctx, now = self._ctx, self._ctx.clock()
        started = time.perf_counter()
        used = self._reservations()
        gangs = self._waiting_gangs(now)
        if not gangs:  # most passes on a busy cluster: pods bound or running, nothing waits
            GANGS_WAITING.set(0)
            return time.perf_counter() - started
        nodes = [n for store in self._ctx.nodes.values() for n in store]
        free = free_capacity(nodes, used)
        # In slices: a pass over thousands of gangs must not hold up the watches, the lease
        # renewal or the health checks that share this loop. The snapshot above is the pass's
        # own (fresh lists and dicts), so what the indexes learn meanwhile waits for the next.
        clock = SliceClock()
        clock.busy = time.perf_counter() - started
        verdicts = await run_in_slices(
            plan_steps(nodes, free, gangs, now=now, starvation_seconds=self._config.gang_starvation_seconds),
            clock=clock,
        )
        GANG_PLANNING_SECONDS.observe(time.perf_counter() - started)
        by_key = {g.key: g for g in gangs}
        waiting = 0
        releases = []
        for verdict in verdicts:
            group = ctx.group(verdict.key)
            if group is None:  # deleted while the pass planned
                continue
            memory = ctx.memory.of(verdict.key, group.uid)
            if verdict.admitted and verdict.placements:
                memory.reserved = dict(verdict.placements)
                releases.append(self._release(verdict, by_key[verdict.key], memory, now))
            elif not verdict.admitted:
                waiting += 1
            if memory.waiting != verdict.message:
                memory.waiting = verdict.message
                ctx.queue.add(verdict.key)  # the group's status says why it waits
        GANGS_WAITING.set(waiting)
        await asyncio.gather(*releases)
        return clock.busy

    async def _release(
        self, verdict: Verdict, gang: GangRequest, memory: GroupMemory, decided: datetime
    ) -> None:
        namespace = verdict.key[0]
        pods = {p.name: p for p in self._ctx.member_pods.get(verdict.key, [])}

        def hostname(node: str) -> str | None:
            return next((n.labels.get(HOSTNAME_LABEL) for n in self._ctx.nodes.get(node, [])), None)

        async def release(member: str, node: str) -> bool:
            pod: ObservedPod | None = pods.get(member)
            if pod is None:
                return False
            return await self._ctx.writer.release_member(
                namespace,
                member,
                node=node,
                pin_hostname=release_pin(pod, hostname(node)),
                remaining_gates=[g for g in pod.scheduling_gates if g != GANG_GATE],
                admitted_at=decided,
                topology_domain=verdict.domain,
            )

        placements = list(verdict.placements.items())
        results = await asyncio.gather(*(release(m, n) for m, n in placements), return_exceptions=True)
        released = {m: n for (m, n), ok in zip(placements, results, strict=True) if ok is True}
        GANG_RELEASE_LATENCY.observe((self._ctx.clock() - decided).total_seconds())
        GANG_ADMISSION_WAIT.observe((decided - gang.waiting_since).total_seconds())
        logger.info("released gang %s/%s: %d/%d members", *verdict.key, len(released), len(results))
        self._ctx.queue.add(verdict.key)
        if len(released) < len(placements):
            forget_failed_releases(memory, released)
            self._wake_at(1.0)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]


def forget_failed_releases(memory: GroupMemory, released: dict[str, str]) -> None:
    """Keep reserving only the members whose release went through: the others (refused, or
    throttled with a 429) are still gated, and the gang must be planned again once the index
    shows the released ones, as after a restart. Reserving them forever left the gang half
    released for good (tests/reliability, 429 bursts)."""
    memory.reserved = dict(released)
