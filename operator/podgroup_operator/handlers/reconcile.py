"""Reconcile one PodGroup: observe (indexes) -> decide (core) -> act (adapter)."""

from __future__ import annotations

import asyncio
import logging

from podgroup_operator.api.models import PodGroupStatus
from podgroup_operator.core.conditions import Event, transition_events
from podgroup_operator.core.creation import creation_batch
from podgroup_operator.core.gang_state import (
    after_rollback,
    carried_gang_record,
    next_timeout_check,
    timed_out_release,
)
from podgroup_operator.core.labels import GANG_GATE
from podgroup_operator.core.members import MemberPlan, plan_members
from podgroup_operator.core.network import identity
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.pods import member_pod
from podgroup_operator.core.status import compute_status, group_failed, restart_in_progress
from podgroup_operator.handlers.context import GroupKey, OperatorContext
from podgroup_operator.handlers.failures import handle_failures, native_restart
from podgroup_operator.handlers.network import reconcile_service, update_sizes
from podgroup_operator.handlers.resize import ResizeOutcome, reconcile_resize
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import GANG_ROLLBACKS
from podgroup_operator.runtime.workqueue import RetryLater

logger = logging.getLogger(__name__)


async def _roll_back(
    ctx: OperatorContext,
    group: GroupRef,
    previous: PodGroupStatus | None,
    stuck: ObservedPod,
    pods: list[ObservedPod],
    timeout: int,
) -> float:
    """Release the capacity a partial placement holds: delete every member (they come back
    gated) and back off. The record is written first, so a crash in between only repeats it."""
    now = ctx.clock()
    record = after_rollback(
        previous.gang if previous else None,
        now,
        ctx.config.gang_backoff_base_seconds,
        ctx.config.gang_backoff_max_seconds,
    )
    await ctx.writer.patch_status(group.namespace, group.name, {"gang": record.to_dict()})
    await asyncio.gather(*(ctx.writer.delete_pod(group.namespace, p.name, p.uid) for p in pods if p.active))
    GANG_ROLLBACKS.inc()
    delay = (record.next_attempt_time - now).total_seconds() if record.next_attempt_time else 0
    message = (
        f"pod {stuck.name} was not bound within {timeout}s of its release (planned node "
        f"{stuck.planned_node}); rolled back the gang, next attempt in {delay:.0f}s"
    )
    await ctx.writer.post_event(group, Event("Warning", "ScheduleTimeout", message), now)
    logger.info("PodGroup %s/%s: %s", group.namespace, group.name, message)
    return delay


async def reconcile(ctx: OperatorContext, key: GroupKey) -> float | None:
    observed = ctx.group(key)
    if observed is None or observed.deleting:
        return None  # gone or going: its pods are garbage-collected through owner references
    namespace, name = key
    group = GroupRef(namespace, name, observed.uid)
    spec = observed.spec
    if spec is None:
        # The CRD schema refuses what the models refuse; this guards objects stored before it.
        logger.warning("PodGroup %s/%s has an invalid spec: %s", namespace, name, observed.spec_error)
        return None
    previous = observed.status
    pods = list(ctx.member_pods.get(key, []))
    now = ctx.clock()
    memory = ctx.memory.of(key, observed.uid)

    stuck = timed_out_release(spec, pods, now)
    if stuck is not None:
        return await _roll_back(ctx, group, previous, stuck, pods, spec.gang.schedule_timeout_seconds)

    failures = await handle_failures(ctx, group, spec, previous, pods)
    previous = failures.record
    resize = (
        ResizeOutcome(None)
        if group_failed(previous)
        else await reconcile_resize(ctx, group, spec, previous, pods)
    )
    # A failed group is terminal: its stopped members are kept, and nothing is recreated.
    plan = plan_members(name, group.uid, spec, pods) if not group_failed(previous) else MemberPlan((), ())
    batch = creation_batch(
        plan.create,
        {p.name for p in pods},
        memory.created,
        now=now,
        limit=ctx.config.max_creates_per_reconcile,
    )
    templates = {role.name: role.template for role in spec.roles}
    # Per role, not per member: it looks at every node (6 % of the operator's CPU at 1000 nodes,
    # py-spy during bench.gang, when it ran per member).
    restart_rules = {
        role.name: native_restart(ctx, spec.failure_policy, role.template)
        for role in spec.roles
        if any(m.role == role.name for m in batch.create)
    }
    service_problem = await reconcile_service(ctx, group, spec)
    results = await asyncio.gather(
        *(
            ctx.writer.create_pod(
                namespace,
                member_pod(
                    group=name,
                    group_uid=group.uid,
                    member=m,
                    template=templates[m.role],
                    gates=(GANG_GATE,),
                    restart_generation=(previous.restart_generation or 0) if previous else 0,
                    **restart_rules[m.role],
                    identity=identity(name, namespace, spec, m, ctx.config.cluster_domain),
                ),
            )
            for m in batch.create
        )
    )
    memory.created = {
        **batch.pending,
        **{m.name: now for m, err in zip(batch.create, results, strict=True) if not err},
    }
    refusals = [f"pod {m.name}: {err}" for m, err in zip(batch.create, results, strict=True) if err]
    uids = {p.name: p.uid for p in pods}
    await asyncio.gather(*(ctx.writer.delete_pod(namespace, n, uids[n]) for n in plan.delete))
    if not group_failed(previous):
        await update_sizes(ctx, group, spec, pods, set(plan.delete))

    status = compute_status(
        group=name,
        spec=spec,
        generation=observed.generation,
        pods=pods,
        previous=previous,
        create_error=refusals[0] if refusals else None,
        created=sum(1 for err in results if err is None),
        gang=carried_gang_record(previous.gang if previous else None, pods),
        waiting_message=memory.waiting,
        restarting=failures.waiting or restart_in_progress(previous, pods),
        resize=resize.status,
        resizing=resize.resizing,
        resize_infeasible=resize.infeasible,
        service_problem=service_problem,
        now=now,
    )
    wire = status.to_dict()
    if wire != (previous.to_dict() if previous else None) and wire != memory.last_status:
        await ctx.writer.patch_status(namespace, name, wire)
        memory.last_status = wire
        before = (previous.conditions if previous else None) or []
        for event in transition_events(before, status.conditions or []):
            await ctx.writer.post_event(group, event, ctx.clock())
    for event in resize.events:  # after the status that records these resizes
        await ctx.writer.post_event(group, event, ctx.clock())
    if refusals:
        raise RetryLater(refusals[0])
    # More members to create: again at once, behind the groups already waiting (their turn).
    more = 0.0 if batch.more else None
    requeues = (next_timeout_check(spec, pods, now), failures.requeue, resize.requeue, more)
    return min((t for t in requeues if t is not None), default=None)
