"""Carry out one ReconcilePlan (core/reconcile_plan.py) in its order: the decision recorded
first, alone, with its events; the group's Service, creates, deletes, pod patches, in-place
resizes; then the status once, then the events that announce it."""

from __future__ import annotations

import asyncio
import logging

from podgroup_operator.core.admission import placed_creates
from podgroup_operator.core.reconcile_plan import ReconcilePlan, RecordWrite
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.memory import GroupMemory
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import GANG_ROLLBACKS, RESIZES, RESTARTS
from podgroup_operator.runtime.workqueue import RetryLater

logger = logging.getLogger(__name__)


async def _record(ctx: OperatorContext, group: GroupRef, memory: GroupMemory, record: RecordWrite) -> None:
    await ctx.writer.patch_status(group.namespace, group.name, record.patch)
    if record.failure is not None:
        memory.failure_record = record.failure  # until the watch shows it (with_own_record)
    if record.counted is not None:
        RESTARTS.labels(*record.counted).inc()
    if record.rollback:
        GANG_ROLLBACKS.inc()
    for event in record.events:
        await ctx.writer.post_event(group, event, ctx.clock())
        logger.info("PodGroup %s/%s: %s: %s", group.namespace, group.name, event.reason, event.message)


async def execute(ctx: OperatorContext, plan: ReconcilePlan) -> float | None:
    s = plan.snapshot
    group = GroupRef(s.namespace, s.name, s.uid)
    memory = ctx.memory.of((s.namespace, s.name), s.uid)
    if plan.record is not None:
        await _record(ctx, group, memory, plan.record)
    failure = plan.earlier.failure
    if failure is not None and failure.stopping is not None:
        memory.stopping = set(failure.stopping)
    service_problem = None
    if plan.service is not None:
        service_problem = await ctx.writer.ensure_service(s.namespace, plan.service, s.uid)
        memory.service_problem = service_problem or ""
    creates = plan.creates
    if plan.placement is not None and ctx.placer is not None:
        memory.placed = {}  # what an earlier, failed attempt placed: this ask replaces it
        placement = await ctx.placer.place((s.namespace, s.name), s.uid, plan.placement)
        if placement is not None:
            creates = placed_creates(creates, placement)
    results = await asyncio.gather(*(ctx.writer.create_pod(s.namespace, c.body) for c in creates))
    # The one step that needs the writes' results: what the API server created is remembered
    # (the index shows it later), and its refusals become the status message and a retry.
    created = [c.member for c, err in zip(creates, results, strict=True) if not err]
    memory.created = {**plan.pending, **dict.fromkeys(created, s.now)}
    refusals = [f"pod {c.member}: {err}" for c, err in zip(creates, results, strict=True) if err]
    refused = {c.member for c, err in zip(creates, results, strict=True) if err}
    if memory.placed and refused:  # a refused member holds no room; it comes back gated
        memory.placed = {m: p for m, p in memory.placed.items() if m not in refused}
    await asyncio.gather(*(ctx.writer.delete_pod(s.namespace, d.name, d.uid) for d in plan.deletes))
    await asyncio.gather(*(ctx.writer.patch_pod(s.namespace, p.name, p.uid, p.patch) for p in plan.patches))
    sends = plan.earlier.resize.sends if plan.earlier.resize else ()
    answers = await asyncio.gather(
        *(ctx.writer.resize_pod(s.namespace, pod, patch, s.now) for pod, patch in sends)
    )
    resize_refused = {pod: answer for (pod, _), answer in zip(sends, answers, strict=True)}

    accepted = sum(1 for err in results if err is None)
    write = plan.status_after(accepted, refusals[0] if refusals else None, service_problem, resize_refused)
    for result in write.resize_results:
        RESIZES.labels(result).inc()
    if write.patch is not None:
        await ctx.writer.patch_status(s.namespace, s.name, write.patch)
        memory.last_status = write.patch
    for event in write.events:
        await ctx.writer.post_event(group, event, ctx.clock())
    if refusals:
        raise RetryLater(refusals[0])
    return plan.requeue
