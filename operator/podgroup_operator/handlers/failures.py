"""Failure handling for one PodGroup: the step core/failure_step.py decides, carried out. The
record is written before the action, so an operator killed in between finds the failure already
decided and only completes the action: nothing is counted twice."""

from __future__ import annotations

from dataclasses import dataclass

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.failure_step import plan_failures, with_own_record
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.failure_actions import (
    apply_action,
    converge_group_recreate,
    converge_group_restart,
    stop_members,
)
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import RESTARTS


@dataclass(frozen=True)
class FailureOutcome:
    record: PodGroupStatus | None  # status fields to carry into the status written at the end
    waiting: str | None = None  # why a decided action waits (backoff)
    requeue: float | None = None


async def handle_failures(
    ctx: OperatorContext,
    group: GroupRef,
    spec: PodGroupSpec,
    status: PodGroupStatus | None,
    pods: list[ObservedPod],
) -> FailureOutcome:
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    status, caught_up = with_own_record(status, memory.failure_record)
    if caught_up:
        memory.failure_record = None
    lost = {p.node_name for p in pods if p.node_name is not None and not ctx.nodes.get(p.node_name)}
    now = ctx.clock()
    step = plan_failures(spec, status, pods, lost, now)
    if step.stop_members:
        await stop_members(ctx, group, pods)
        return FailureOutcome(step.status)
    if step.waiting is not None:
        return FailureOutcome(step.status, waiting=step.waiting, requeue=step.requeue)
    act = step.act
    if act is None:
        await converge_group_restart(ctx, group, spec, step.status, pods)
        await converge_group_recreate(ctx, group, step.status, pods)
        return FailureOutcome(step.status)
    if act.record_patch is not None:
        await ctx.writer.patch_status(group.namespace, group.name, act.record_patch)
        memory.failure_record = act.record
        RESTARTS.labels(act.action, act.failure.reason).inc()
    if act.event is not None:
        await ctx.writer.post_event(group, act.event, now)
    await apply_action(ctx, group, spec, act.record, pods, act.failure, act.action)
    return FailureOutcome(act.record, requeue=step.requeue)
