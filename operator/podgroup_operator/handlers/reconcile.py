"""Reconcile one PodGroup: observe (indexes) -> failure handling (its decision recorded first)
and the resizes to propose -> plan (core/reconcile_plan.py) -> execute it
(handlers/plan_executor.py)."""

from __future__ import annotations

import asyncio
import logging

from podgroup_operator.api.models import PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.gang_state import after_rollback, timed_out_release
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.reconcile_plan import EarlierSteps, Remembered, Settings, Snapshot, plan_reconcile
from podgroup_operator.core.status import group_failed
from podgroup_operator.handlers.context import GroupKey, OperatorContext
from podgroup_operator.handlers.failures import handle_failures
from podgroup_operator.handlers.plan_executor import execute
from podgroup_operator.handlers.resize import reconcile_resize
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import GANG_ROLLBACKS

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
    resize = None if group_failed(previous) else await reconcile_resize(ctx, group, spec, previous, pods)
    snapshot = Snapshot(
        namespace=namespace,
        name=name,
        uid=group.uid,
        generation=observed.generation,
        spec=spec,
        status=previous,
        pods=tuple(pods),
        nodes=ctx.nodes,
        now=now,
    )
    remembered = Remembered(
        created=memory.created,
        waiting=memory.waiting,
        last_status=memory.last_status,
        service_problem=memory.service_problem,
    )
    earlier = EarlierSteps(
        restarting=failures.waiting,
        failure_requeue=failures.requeue,
        resize=resize,
    )
    settings = Settings(
        max_creates=ctx.config.max_creates_per_reconcile,
        cluster_domain=ctx.config.cluster_domain,
        native_restart=ctx.config.native_restart != "off" and bool(ctx.features.container_restart_rules),
        restart_all_api=bool(ctx.features.restart_all_containers),
    )
    return await execute(ctx, plan_reconcile(snapshot, remembered, earlier, settings))
