"""What failure handling does in one reconcile, decided from the observed status and pods.

detect (core.failures) -> choose the earliest failure -> decide (core.policy) -> the record to
write before the action, the event that announces it, and the action's writes
(core.failure_actions). A failure already recorded (the operator was interrupted between the
record and the action) is completed, not decided or counted again. The step is part of the
reconcile's plan (core/reconcile_plan.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import ActionUse, FailureRecord, PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failure_actions import (
    Applied,
    apply_action,
    group_recreate,
    group_restart,
    stop_members,
)
from podgroup_operator.core.failures import Failure, detect_failures
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import NodeInfo
from podgroup_operator.core.policy import Decision, decide, watched_conditions
from podgroup_operator.core.status import group_failed
from podgroup_operator.core.writes import PodWrites

HISTORY = 64  # actions kept in status for escalation and backoff
# The status fields a failure decision writes (the model's names, and the wire's).
FAILURE_FIELDS = ("restarts", "restart_generation", "last_failure", "actions")
FAILURE_WIRE_FIELDS = ("restarts", "restartGeneration", "lastFailure", "actions")
# Actions announced as Normal events; the others are Warnings.
_NORMAL_ACTIONS = (Action.IGNORE, Action.RESTART_CONTAINER)


@dataclass(frozen=True)
class FailureAct:
    """Act on `failure` with `action`; first write `record_patch` and post `event` when it is
    decided now (both None when it was recorded before an interruption)."""

    failure: Failure
    action: Action
    record: PodGroupStatus  # the status with the decision recorded
    record_patch: dict[str, Any] | None = None
    event: Event | None = None


@dataclass(frozen=True)
class FailureStep:
    """One of: stop the members of a failed group (`stop_members`); wait out a backoff
    (`waiting`); act on a failure (`act`); else converge the members on the recorded group
    restart or recreate. `writes`: what that comes to on the members."""

    status: PodGroupStatus | None  # the status the rest of the reconcile goes on from
    stop_members: bool = False
    act: FailureAct | None = None
    waiting: str | None = None
    requeue: float | None = None
    writes: PodWrites = field(default_factory=PodWrites)
    stopping: frozenset[str] | None = None  # members given their stop deadline (None: unchanged)


def lost_nodes(pods: Iterable[ObservedPod], nodes: Mapping[str, Iterable[NodeInfo]]) -> set[str]:
    """The nodes members are bound to that the node index no longer has."""
    return {p.node_name for p in pods if p.node_name is not None and not nodes.get(p.node_name)}


def with_own_record(
    status: PodGroupStatus | None, written: PodGroupStatus | None
) -> tuple[PodGroupStatus | None, bool]:
    """The observed status, with the failure record this operator `written` after it (the watch
    may not have delivered that write yet), and whether the watch has caught up with it."""
    if written is None or written.last_failure is None:
        return status, False
    seen = status.last_failure if status else None
    if seen is not None and (seen.time or written.last_failure.time) >= written.last_failure.time:
        return status, True  # the watch caught up (or moved past it)
    if status is None:
        return written, False
    return status.model_copy(update={field: getattr(written, field) for field in FAILURE_FIELDS}), False


def record_failure(status: PodGroupStatus | None, f: Failure, d: Decision, now: datetime) -> PodGroupStatus:
    """The status with the decision recorded: counted, in the action history, as lastFailure."""
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


def _earliest(failures: Sequence[Failure]) -> Failure:
    return min(failures, key=lambda f: f.time.timestamp() if f.time else float("inf"))


def plan_failures(
    spec: PodGroupSpec,
    status: PodGroupStatus | None,
    pods: Sequence[ObservedPod],
    lost: Collection[str],
    stopping: Collection[str],
    now: datetime,
) -> FailureStep:
    """`status` with this operator's own record (with_own_record); `lost`: lost_nodes;
    `stopping`: the members this process gave their stop deadline, not yet seen stopped."""
    if group_failed(status):
        stop = stop_members(pods, stopping)
        return FailureStep(status, stop_members=True, writes=stop.writes, stopping=stop.stopping)
    watched = watched_conditions(spec.failure_policy)
    failures = [
        f for p in pods for f in detect_failures(p, node_lost=p.node_name in lost, watched_conditions=watched)
    ]
    if not failures:
        converge = group_restart(spec, status, pods, now) + group_recreate(status, pods)
        return FailureStep(status, writes=converge)
    failure = _earliest(failures)
    if status and status.last_failure and status.last_failure.key == failure.identity:
        # Decided before an interruption: complete the action, do not decide (or count) again.
        act = FailureAct(failure, Action(status.last_failure.action), status)
        return _acting(spec, pods, act, stopping, now)
    decision = decide(
        spec.failure_policy,
        failure,
        restarts=(status.restarts or 0) if status else 0,
        history=(status.actions or []) if status else [],
        now=now,
    )
    if decision.not_before and decision.not_before > now:
        wait = (decision.not_before - now).total_seconds()
        return FailureStep(status, waiting=f"{decision.why}; backing off {wait:.0f}s", requeue=wait)
    record = record_failure(status, failure, decision, now)
    wire = record.to_dict()
    kind = "Normal" if decision.action in _NORMAL_ACTIONS else "Warning"
    act = FailureAct(
        failure,
        decision.action,
        record,
        record_patch={k: wire[k] for k in FAILURE_WIRE_FIELDS if k in wire},
        event=Event(kind, str(decision.action), decision.why),
    )
    return _acting(spec, pods, act, stopping, now)


def _acting(
    spec: PodGroupSpec, pods: Sequence[ObservedPod], act: FailureAct, stopping: Collection[str], now: datetime
) -> FailureStep:
    applied: Applied = apply_action(spec, act.record, pods, act.failure, act.action, stopping, now)
    return FailureStep(act.record, act=act, requeue=0.5, writes=applied.writes, stopping=applied.stopping)
