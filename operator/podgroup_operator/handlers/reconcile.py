"""Reconcile one PodGroup: observe (indexes, and usage for the resizes) -> one plan from core
(the failure step, the resizes, core/reconcile_plan.py) -> execute it (handlers/plan_executor.py)."""

from __future__ import annotations

import logging

from podgroup_operator.core.failure_step import lost_nodes, plan_failures, with_own_record
from podgroup_operator.core.reconcile_plan import (
    EarlierSteps,
    Remembered,
    Settings,
    Snapshot,
    plan_reconcile,
    resizes,
)
from podgroup_operator.handlers.context import GroupKey, OperatorContext
from podgroup_operator.handlers.plan_executor import execute
from podgroup_operator.handlers.resize import reconcile_resize
from podgroup_operator.k8s.adapter import GroupRef

logger = logging.getLogger(__name__)


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
    pods = list(ctx.member_pods.get(key, []))
    now = ctx.clock()
    memory = ctx.memory.of(key, observed.uid)
    status, caught_up = with_own_record(observed.status, memory.failure_record)
    if caught_up:
        memory.failure_record = None
    failure = plan_failures(spec, status, pods, lost_nodes(pods, ctx.nodes), memory.stopping, now)
    snapshot = Snapshot(
        namespace=namespace,
        name=name,
        uid=group.uid,
        generation=observed.generation,
        spec=spec,
        status=failure.status,
        pods=tuple(pods),
        nodes=ctx.nodes,
        now=now,
    )
    resize = (
        await reconcile_resize(ctx, group, spec, failure.status, pods) if resizes(snapshot, failure) else None
    )
    remembered = Remembered(
        created=memory.created,
        waiting=memory.waiting,
        last_status=memory.last_status,
        service_problem=memory.service_problem,
    )
    earlier = EarlierSteps(failure=failure, resize=resize)
    settings = Settings(
        max_creates=ctx.config.max_creates_per_reconcile,
        cluster_domain=ctx.config.cluster_domain,
        native_restart=ctx.config.native_restart != "off" and bool(ctx.features.container_restart_rules),
        restart_all_api=bool(ctx.features.restart_all_containers),
        gang_backoff=(ctx.config.gang_backoff_base_seconds, ctx.config.gang_backoff_max_seconds),
        place_at_creation=ctx.placer is not None,
    )
    return await execute(ctx, plan_reconcile(snapshot, remembered, earlier, settings))
