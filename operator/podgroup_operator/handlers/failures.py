"""Failure handling for one PodGroup: detect (core.failures) -> decide (core.policy) -> record
in status -> act. The record is written before the action, so an operator killed in between
finds the failure already decided and only completes the action: nothing is counted twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import ActionUse, FailureRecord, PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failures import Failure, detect_failures
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.policy import Decision, decide, watched_conditions
from podgroup_operator.core.status import group_failed
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.failure_actions import (
    apply_action,
    converge_group_recreate,
    converge_group_restart,
    stop_members,
)
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import RESTARTS

logger = logging.getLogger(__name__)
HISTORY = 64  # actions kept in status for escalation and backoff
# The status fields a failure decision writes.
FAILURE_FIELDS = ("restarts", "restart_generation", "last_failure", "actions")


@dataclass(frozen=True)
class FailureOutcome:
    record: PodGroupStatus | None  # status fields to carry into the status written at the end
    waiting: str | None = None  # why a decided action waits (backoff)
    requeue: float | None = None


def _node_lost(ctx: OperatorContext, pod: ObservedPod) -> bool:
    return pod.node_name is not None and not ctx.nodes.get(pod.node_name)


def _record(status: PodGroupStatus | None, f: Failure, d: Decision, now: datetime) -> PodGroupStatus:
    previous = status or PodGroupStatus()
    actions = [*(previous.actions or []), ActionUse(action=d.action, time=now)][-HISTORY:]
    generation = previous.restart_generation or 0
    if d.action == Action.RESTART_GROUP_IN_PLACE:
        generation += 1
    return previous.model_copy(
        update={
            "restarts": (previous.restarts or 0) + (1 if d.counted else 0),
            "restart_generation": generation,
            "last_failure": FailureRecord(
                pod=f.pod,
                container=f.container,
                exit_code=f.exit_code,
                reason=f.reason,
                action=d.action,
                time=now,
                key=f.identity,
            ),
            "actions": actions,
        }
    )


async def handle_failures(
    ctx: OperatorContext,
    group: GroupRef,
    spec: PodGroupSpec,
    status: PodGroupStatus | None,
    pods: list[ObservedPod],
) -> FailureOutcome:
    status = _with_own_record(ctx, group, status)
    if group_failed(status):
        await stop_members(ctx, group, pods)
        return FailureOutcome(status)
    watched = watched_conditions(spec.failure_policy)
    failures = [
        f for p in pods for f in detect_failures(p, node_lost=_node_lost(ctx, p), watched_conditions=watched)
    ]
    if not failures:
        await converge_group_restart(ctx, group, spec, status, pods)
        await converge_group_recreate(ctx, group, status, pods)
        return FailureOutcome(status)
    failure = min(failures, key=lambda f: f.time.timestamp() if f.time else float("inf"))
    now = ctx.clock()
    if status and status.last_failure and status.last_failure.key == failure.identity:
        # Decided before an interruption: complete the action, do not decide (or count) again.
        decision = Decision(Action(status.last_failure.action), "completing the recorded action")
        record = status
    else:
        decision = decide(
            spec.failure_policy,
            failure,
            restarts=(status.restarts or 0) if status else 0,
            history=(status.actions or []) if status else [],
            now=now,
        )
        if decision.not_before and decision.not_before > now:
            wait = (decision.not_before - now).total_seconds()
            return FailureOutcome(status, waiting=f"{decision.why}; backing off {wait:.0f}s", requeue=wait)
        record = _record(status, failure, decision, now)
        await ctx.writer.patch_status(group.namespace, group.name, _record_patch(record))
        ctx.memory.of((group.namespace, group.name), group.uid).failure_record = record
        RESTARTS.labels(decision.action, failure.reason).inc()
        kind = "Normal" if decision.action in (Action.IGNORE, Action.RESTART_CONTAINER) else "Warning"
        await ctx.writer.post_event(group, Event(kind, str(decision.action), decision.why), now)
    await apply_action(ctx, group, spec, record, pods, failure, decision.action)
    return FailureOutcome(record, requeue=0.5)


def _with_own_record(
    ctx: OperatorContext, group: GroupRef, status: PodGroupStatus | None
) -> PodGroupStatus | None:
    """The observed status, or the failure record this operator wrote after it: the watch may
    not have delivered that write when the next reconcile runs."""
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    written = memory.failure_record
    if written is None or written.last_failure is None:
        return status
    seen = status.last_failure if status else None
    if seen is not None and (seen.time or written.last_failure.time) >= written.last_failure.time:
        memory.failure_record = None  # the watch caught up (or moved past it)
        return status
    if status is None:
        return written
    return status.model_copy(update={field: getattr(written, field) for field in FAILURE_FIELDS})


def _record_patch(record: PodGroupStatus) -> dict:
    wire = record.to_dict()
    return {k: wire[k] for k in ("restarts", "restartGeneration", "lastFailure", "actions") if k in wire}
