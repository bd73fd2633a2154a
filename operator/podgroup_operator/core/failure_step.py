"""What failure handling does in one reconcile, decided from the observed status and pods.

detect (core.failures) -> choose the earliest failure -> decide (core.policy) -> the record to
write before the action, and the event that announces it. A failure already recorded (the
operator was interrupted between the record and the action) is completed, not decided or
counted again. handlers/failures.py carries the step out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import ActionUse, FailureRecord, PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failures import Failure, detect_failures
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.policy import Decision, decide, watched_conditions
from podgroup_operator.core.status import group_failed

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
    restart or recreate."""

    status: PodGroupStatus | None  # the status the rest of the reconcile goes on from
    stop_members: bool = False
    act: FailureAct | None = None
    waiting: str | None = None
    requeue: float | None = None


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
    lost_nodes: Collection[str],
    now: datetime,
) -> FailureStep:
    """`status` with this operator's own record (with_own_record); `lost_nodes`: the nodes
    members are bound to that the node index no longer has."""
    if group_failed(status):
        return FailureStep(status, stop_members=True)
    watched = watched_conditions(spec.failure_policy)
    failures = [
        f
        for p in pods
        for f in detect_failures(p, node_lost=p.node_name in lost_nodes, watched_conditions=watched)
    ]
    if not failures:
        return FailureStep(status)
    failure = _earliest(failures)
    if status and status.last_failure and status.last_failure.key == failure.identity:
        # Decided before an interruption: complete the action, do not decide (or count) again.
        act = FailureAct(failure, Action(status.last_failure.action), status)
        return FailureStep(status, act=act, requeue=0.5)
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
    return FailureStep(record, act=act, requeue=0.5)
