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
# True while at least the gang's minimum of members is Running and Ready (a runtime signal,
# not only "initially scheduled").
GANG_READY = "GangReady"

# Reasons of a False condition that say "not yet" rather than "something is wrong".
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
    """One event per condition whose status, reason or message changed.

    A condition seen for the first time is news only when it reports a failure (a False
    condition whose reason is not mere progress). Deciding from the conditions already
    stored in status keeps events at one per change even when reconciles repeat.
    """
    old = {c.type: c for c in before}
    events = []
    for c in after:
        prev = old.get(c.type)
        failing = c.status != ConditionStatus.TRUE
        if prev is None and (not failing or c.reason in PROGRESS_REASONS):
            continue
        if (
            prev is not None
            and (prev.status, prev.reason) == (c.status, c.reason)
            and (prev.message == c.message or c.reason in PROGRESS_REASONS)
        ):
            continue  # unchanged, or only a progress count moved
        events.append(Event("Warning" if failing else "Normal", c.reason, c.message))
    return events
