"""Kubernetes-style conditions: set one, keep lastTransitionTime unless the status flips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.api.models import Condition, ConditionStatus

# Condition types of a PodGroup.
PODS_CREATED = "PodsCreated"
READY = "Ready"
GANG_SCHEDULED = "GangScheduled"
RESTARTING = "Restarting"
RESIZING = "Resizing"
RESIZE_INFEASIBLE = "ResizeInfeasible"
FAILED = "Failed"
# True while the group's headless Service is its own (members resolve by name).
SERVICE_READY = "ServiceReady"
# True while at least the gang's minimum of members is Running and Ready (a runtime signal,
# not only "initially scheduled").
GANG_READY = "GangReady"

# Reasons of a False condition that say "not yet" rather than "something is wrong".
# Conditions whose turning True is announced with a Normal event.
NEWSWORTHY = frozenset({GANG_SCHEDULED})
PROGRESS_REASONS = frozenset({"MembersMissing", "MembersNotReady", "Waiting", "BelowMinimum"})


@dataclass(frozen=True)
class Event:
    """An event the operator should post on the PodGroup."""

    type: str  # Normal | Warning
    reason: str
    message: str


def set_condition(
    conditions: Sequence[Condition],
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Return conditions with `type` set; its transition time moves only when status changes."""
    wanted = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    previous = next((c for c in conditions if c.type == type), None)
    since = previous.last_transition_time if previous is not None and previous.status == wanted else now
    updated = Condition(
        type=type,
        status=wanted,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if c.type == type else c for c in conditions]


def transition_events(before: Sequence[Condition], after: Sequence[Condition]) -> list[Event]:
    """The events a change of conditions is worth, decided from the conditions stored before
    (so repeated reconciles do not repeat them):

    - a failure (False with a reason other than mere progress), when it appears or changes;
    - a recovery from such a failure, and the gang's admission: Normal events;
    - a True condition turning False (e.g. the gang degrading): Warning.
    Progress alone (counts moving, conditions turning True on the way up) is no event.
    """
    old = {c.type: c for c in before}
    events = []
    for c in after:
        prev = old.get(c.type)
        if prev is not None and (prev.status, prev.reason, prev.message) == (c.status, c.reason, c.message):
            continue
        was_failing = (
            prev is not None and prev.status != ConditionStatus.TRUE and prev.reason not in PROGRESS_REASONS
        )
        if c.status != ConditionStatus.TRUE:
            degraded = prev is not None and prev.status == ConditionStatus.TRUE
            if c.reason not in PROGRESS_REASONS or degraded:
                events.append(Event("Warning", c.reason, c.message))
        elif was_failing or (c.type in NEWSWORTHY and (prev is None or prev.status != ConditionStatus.TRUE)):
            events.append(Event("Normal", c.reason, c.message))
    return events
