"""A PodGroup's gang, read from its spec, its pods and its status: what it still needs to
be admitted, whether its release has timed out, and when it may try again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from podgroup_operator.api.models import GangStatus, PodGroupSpec
from podgroup_operator.core.backoff import backoff_seconds
from podgroup_operator.core.gang import GangRequest, GroupKey, MemberRequest
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.topology import topology_request


def gang_minimum(spec: PodGroupSpec) -> dict[str, int]:
    return {role.name: role.effective_min_available for role in spec.roles}


def released_per_role(pods: Sequence[ObservedPod]) -> Counter[str]:
    return Counter(p.role for p in pods if p.released)


def is_admitted(spec: PodGroupSpec, pods: Sequence[ObservedPod]) -> bool:
    released = released_per_role(pods)
    return all(released[role] >= n for role, n in gang_minimum(spec).items())


def gang_request(
    key: GroupKey, spec: PodGroupSpec, pods: Sequence[ObservedPod], waiting_since: datetime
) -> GangRequest | None:
    """The admission this group asks for, or None when no member is waiting at a gate.

    Members already released count towards the minimum, so a member recreated in a running
    gang is admitted alone as soon as it fits; a fresh gang needs its whole minimum at once.
    """
    gated = sorted((p for p in pods if p.active and p.gang_gated), key=lambda p: (p.role, p.index or 0))
    if not gated:
        return None
    released = released_per_role(pods)
    needed = {role: max(0, n - released[role]) for role, n in gang_minimum(spec).items()}
    return GangRequest(
        key=key,
        priority=max(p.priority for p in gated),
        waiting_since=waiting_since,
        needed=needed,
        members=tuple(MemberRequest(p.name, p.role, p.requests, p.constraints) for p in gated),
        topology=topology_request(spec.gang.topology),
        role_topology={
            role.name: t for role in spec.roles if (t := topology_request(role.topology)) is not None
        },
    )


def timed_out_release(spec: PodGroupSpec, pods: Sequence[ObservedPod], now: datetime) -> ObservedPod | None:
    """A released member still unbound after the schedule timeout: the gang must roll back."""
    limit = timedelta(seconds=spec.gang.schedule_timeout_seconds)
    for p in pods:
        if p.released and not p.scheduled and p.admitted_at is not None and now - p.admitted_at >= limit:
            return p
    return None


def after_rollback(previous: GangStatus | None, now: datetime, base: float, cap: float) -> GangStatus:
    rollbacks = (previous.rollbacks if previous else 0) + 1
    delay = backoff_seconds(rollbacks, base, cap)
    return GangStatus(
        admitted_time=previous.admitted_time if previous else None,
        rollbacks=rollbacks,
        last_rollback_time=now,
        next_attempt_time=now + timedelta(seconds=delay),
    )


def carried_gang_record(previous: GangStatus | None, pods: list[ObservedPod]) -> GangStatus | None:
    """Carry the admission record forward; the release time and the topology domain chosen
    are read off the members (the latest release's domain)."""
    released = sorted(
        (p.admitted_at, p.topology_domain or "") for p in pods if p.released and p.admitted_at is not None
    )
    if not released:
        return previous
    record = previous or GangStatus()
    return record.model_copy(
        update={"admitted_time": released[0][0], "topology_domain": released[-1][1] or None}
    )


def next_timeout_check(spec: PodGroupSpec, pods: list[ObservedPod], now: datetime) -> float | None:
    """Seconds until the earliest released-but-unbound member reaches the schedule timeout."""
    pending = [p.admitted_at for p in pods if p.released and not p.scheduled and p.admitted_at]
    if not pending:
        return None
    due = min(pending).timestamp() + spec.gang.schedule_timeout_seconds - now.timestamp()
    return max(0.1, due + 0.1)


def backing_off(record: GangStatus | None, now: datetime) -> float | None:
    """Seconds the gang still waits after a rollback before it is planned again, or None."""
    if record and record.next_attempt_time and record.next_attempt_time > now:
        return (record.next_attempt_time - now).total_seconds()
    return None


def waiting_since(created: datetime, record: GangStatus | None) -> datetime:
    """Since when the gang waits: its group's creation, or its last rollback."""
    if record and record.last_rollback_time:
        return max(created, record.last_rollback_time)
    return created
