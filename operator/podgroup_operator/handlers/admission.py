"""The gang admitter: one task for the whole operator, since admission is a decision over all
waiting gangs and all nodes at once. Woken by any change that may open room; each pass takes a
snapshot from the indexes, asks the pure planner, and releases the gangs that fit.

A new group's reconcile may ask, before it creates its members, that the next pass plan the
gang from the bodies it would create (`place`): in the same pass as the gangs at the gate, so
that one snapshot decides for all. A gang that fits is placed at creation: its members are
created released, which saves each member the release patch and its watch event. Only while
the last pass left no gang waiting: behind waiting gangs a new one waits at the gate as well,
and its creation does not wait for passes that plan the whole queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.config import Config
from podgroup_operator.core.admission import (
    PLACED_HOLD,
    BackingOff,
    Placed,
    Placement,
    Usage,
    admission_request,
    node_usage,
    pending_placements,
    pending_releases,
    release_pin,
)
from podgroup_operator.core.gang import GangRequest, GroupKey, Verdict, plan_steps
from podgroup_operator.core.labels import GANG_GATE
from podgroup_operator.core.observed import ObservedGroup, ObservedPod
from podgroup_operator.core.placement import HOSTNAME_LABEL, free_capacity
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.memory import GroupMemory
from podgroup_operator.metrics import (
    GANG_ADMISSION_WAIT,
    GANG_PLACED_AT_CREATION,
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
# How long a reconcile waits for the pass to place its new gang; past it, the members are
# created gated and wait at the gate as any other. Asks are made only while no gang waits, so
# passes are short; 0.5 s was too short on a loop stalled by a full garbage collection (half
# the gangs of a bench.gang run created gated).
PLACE_WAIT_SECONDS = 2.0


@dataclass
class _Ask:
    uid: str
    request: GangRequest
    answer: asyncio.Future[Placement | None]


class GangAdmitter:
    def __init__(self, ctx: OperatorContext, config: Config) -> None:
        self._ctx = ctx
        self._config = config
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._asks: dict[GroupKey, _Ask] = {}
        self._asked = asyncio.Event()  # an ask arrived: the pause after a pass ends early
        self._left_waiting = 0  # gangs the last pass left waiting

    def poke(self) -> None:
        self._wake.set()

    async def place(self, key: GroupKey, uid: str, request: GangRequest) -> Placement | None:
        """Ask the next pass to plan this new gang from its bodies: its placement when it fits
        (its room is then reserved for it), None when it does not or no pass answered in time."""
        if self._left_waiting:
            return None
        answer: asyncio.Future[Placement | None] = asyncio.get_running_loop().create_future()
        self._asks[key] = _Ask(uid, request, answer)
        self._asked.set()
        self.poke()
        await asyncio.wait({answer}, timeout=PLACE_WAIT_SECONDS)
        if answer.done():
            return answer.result()
        answer.cancel()  # a pass that plans it later finds it cancelled and reserves nothing
        if self._asks.get(key) is not None and self._asks[key].answer is answer:
            del self._asks[key]
        return None

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
            # An ask is answered by the next pass at once: a new gang's creation waits for it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), min(MAX_PAUSE, PAUSE_FACTOR * cost))

    def _wake_at(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None and self._timer.when() <= loop.time() + delay:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self.poke)

    def _reservations(self, now: datetime) -> dict[str, Usage]:
        reserved = []
        for key, memory in self._ctx.memory.groups():
            if not memory.reserved and not memory.placed:
                continue
            pods = {p.name: p for p in self._ctx.member_pods.get(key, [])}
            memory.reserved = pending_releases(memory.reserved, pods.values())
            memory.placed = pending_placements(memory.placed, pods, now)
            reserved += [(node, pods[member].requests) for member, node in memory.reserved.items()]
            reserved += [(p.node, p.requests) for p in memory.placed.values()]
        return node_usage(self._ctx.node_pods, reserved)

    def _waiting_gangs(self, now: datetime) -> list[GangRequest]:
        gangs = []
        for key, store in list(self._ctx.member_pods.items()):
            group = self._ctx.group(key)
            memory = self._ctx.memory.known(key)
            settling = bool(
                memory and group and memory.uid == group.uid and (memory.reserved or memory.placed)
            )
            request = admission_request(key, group, list(store), settling, now)
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
        used = self._reservations(now)
        asks, self._asks = {k: a for k, a in self._asks.items() if not a.answer.done()}, {}
        self._asked.clear()  # those are this pass's; one asked from now on ends the next pause
        gangs = self._waiting_gangs(now)
        if not gangs and not asks:  # most passes on a busy cluster: nothing waits
            GANGS_WAITING.set(0)
            self._left_waiting = 0
            return time.perf_counter() - started
        waiting_keys = {g.key for g in gangs}
        for key in [k for k in asks if k in waiting_keys]:  # its members exist after all
            asks.pop(key).answer.set_result(None)
        gangs += [a.request for a in asks.values()]
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
            if verdict.key in asks:
                self._answer(asks[verdict.key], verdict, group, now)
                continue
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
        self._left_waiting = waiting
        await asyncio.gather(*releases)
        return clock.busy

    def _hostname(self, node: str) -> str | None:
        return next((n.labels.get(HOSTNAME_LABEL) for n in self._ctx.nodes.get(node, [])), None)

    def _answer(self, ask: _Ask, verdict: Verdict, group: ObservedGroup | None, decided: datetime) -> None:
        """A new gang's verdict to the reconcile that asked: placed (its room reserved from
        now), or None to create it gated; nothing, when that reconcile stopped waiting."""
        if ask.answer.done():
            return
        if group is None or group.uid != ask.uid or not verdict.admitted:
            if group is not None and group.uid == ask.uid:
                self._ctx.memory.of(verdict.key, ask.uid).waiting = verdict.message
            ask.answer.set_result(None)
            return
        requests = {m.name: m.requests for m in ask.request.members}
        memory = self._ctx.memory.of(verdict.key, ask.uid)
        until = decided + PLACED_HOLD
        memory.placed = {m: Placed(n, requests[m], until) for m, n in verdict.placements.items()}
        memory.waiting = None
        GANG_PLACED_AT_CREATION.inc()
        GANG_ADMISSION_WAIT.observe(0.0)
        nodes = {m: (n, self._hostname(n)) for m, n in verdict.placements.items()}
        ask.answer.set_result(Placement(nodes, decided, verdict.domain))

    async def _release(
        self, verdict: Verdict, gang: GangRequest, memory: GroupMemory, decided: datetime
    ) -> None:
        namespace = verdict.key[0]
        pods = {p.name: p for p in self._ctx.member_pods.get(verdict.key, [])}
        hostname = self._hostname

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
