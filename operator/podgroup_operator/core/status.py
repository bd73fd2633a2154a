"""The status of a PodGroup, computed from its spec and the member pods observed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import GangStatus, Phase, PodGroupSpec, PodGroupStatus, RoleStatus
from podgroup_operator.api.resize import ResizeStatus
from podgroup_operator.core.conditions import (
    FAILED,
    GANG_READY,
    GANG_SCHEDULED,
    PODS_CREATED,
    READY,
    RESIZE_INFEASIBLE,
    RESIZING,
    RESTARTING,
    SERVICE_READY,
    set_condition,
)
from podgroup_operator.core.gang_state import gang_minimum, is_admitted
from podgroup_operator.core.members import desired_members
from podgroup_operator.core.observed import ObservedPod


def role_counts(spec: PodGroupSpec, members: Sequence[ObservedPod]) -> list[RoleStatus]:
    counts = []
    for role in spec.roles:
        pods = [p for p in members if p.role == role.name and not p.deleting]
        counts.append(
            RoleStatus(
                name=role.name,
                replicas=role.replicas,
                scheduled=sum(p.scheduled for p in pods),
                running=sum(p.phase == "Running" for p in pods),
                ready=sum(p.ready for p in pods),
                succeeded=sum(p.phase == "Succeeded" for p in pods),
                failed=sum(p.phase == "Failed" for p in pods),
            )
        )
    return counts


def group_phase(
    roles: Sequence[RoleStatus],
    minimum: int,
    admitted: bool,
    *,
    failed: bool = False,
    restarting: bool = False,
) -> Phase:
    """Pending while the gang waits at its gates, Scheduling once released until its minimum
    runs, then Running; Restarting while the failure policy restarts members; Failed once the
    policy failed the group (terminal)."""
    desired = sum(r.replicas for r in roles)
    if sum(r.succeeded for r in roles) >= desired:
        return Phase.SUCCEEDED
    if failed:
        return Phase.FAILED
    if restarting:
        return Phase.RESTARTING
    if sum(r.running for r in roles) >= minimum:
        return Phase.RUNNING
    return Phase.SCHEDULING if admitted else Phase.PENDING


def group_failed(status: PodGroupStatus | None) -> bool:
    """The failure policy failed the group: terminal, its stopped members are kept."""
    return bool(status and status.last_failure and status.last_failure.action == Action.FAIL_GROUP)


def compute_status(
    *,
    group: str,
    spec: PodGroupSpec,
    generation: int | None,
    pods: Iterable[ObservedPod],
    previous: PodGroupStatus | None,
    create_error: str | None,
    created: int = 0,
    gang: GangStatus | None = None,
    waiting_message: str | None = None,
    restarting: str | None = None,
    resize: ResizeStatus | None = None,
    resizing: str | None = None,
    resize_infeasible: str | None = None,
    service_problem: str | None = None,
    now: datetime,
) -> PodGroupStatus:
    """Status from observation only, so a restarted operator computes the same one.

    `create_error` is the API server's refusal of a member pod in this reconcile, if any;
    `created` counts the pods this reconcile created, which the observation cannot show yet.
    `gang` is the admission record to keep; `waiting_message` the planner's word on why the
    gang is not admitted yet. The failure-policy record (restarts, restartGeneration,
    lastFailure, actions) is carried over from `previous`; `restarting` says why the group is
    restarting, when it is. `resize` is the resizer's status; `resizing` and `resize_infeasible`
    say what it is doing and what the nodes cannot give. `service_problem` is why the group's
    headless Service is not its own (spec.network.headlessService), if it is not.
    """
    wanted = {m.name for m in desired_members(group, spec)}
    members = [p for p in pods if p.name in wanted]
    roles = role_counts(spec, members)
    desired = len(wanted)
    existing = sum(1 for p in members if not p.deleting) + created
    ready = sum(r.ready for r in roles)

    conditions = list(previous.conditions or []) if previous else []
    if create_error:
        conditions = set_condition(
            conditions,
            type=PODS_CREATED,
            status=False,
            reason="CreateFailed",
            message=create_error,
            generation=generation,
            now=now,
        )
    elif existing < desired:
        conditions = set_condition(
            conditions,
            type=PODS_CREATED,
            status=False,
            reason="MembersMissing",
            message=f"{existing}/{desired} member pods exist",
            generation=generation,
            now=now,
        )
    else:
        conditions = set_condition(
            conditions,
            type=PODS_CREATED,
            status=True,
            reason="AllMembersCreated",
            message=f"{desired}/{desired} member pods exist",
            generation=generation,
            now=now,
        )
    conditions = set_condition(
        conditions,
        type=READY,
        status=ready >= desired,
        reason="AllMembersReady" if ready >= desired else "MembersNotReady",
        message=f"{ready}/{desired} members ready",
        generation=generation,
        now=now,
    )
    minimum = sum(gang_minimum(spec).values())
    admitted = is_admitted(spec, members)
    if admitted:
        scheduled = (True, "Admitted", f"the gang's minimum of {minimum} pods was released to the scheduler")
    elif gang and gang.next_attempt_time and gang.next_attempt_time > now:
        when = gang.next_attempt_time.isoformat()
        scheduled = (False, "BackingOff", f"rolled back {gang.rollbacks} time(s); next attempt after {when}")
    else:
        scheduled = (False, "Waiting", waiting_message or f"waiting for room for {minimum} pods at once")
    conditions = set_condition(
        conditions,
        type=GANG_SCHEDULED,
        status=scheduled[0],
        reason=scheduled[1],
        message=scheduled[2],
        generation=generation,
        now=now,
    )
    healthy = sum(1 for p in members if p.active and p.phase == "Running" and p.ready)
    conditions = set_condition(
        conditions,
        type=GANG_READY,
        status=healthy >= minimum,
        reason="MinimumReady" if healthy >= minimum else "BelowMinimum",
        message=f"{healthy} members running and ready; the gang needs {minimum}",
        generation=generation,
        now=now,
    )
    last = previous.last_failure if previous else None
    failed = group_failed(previous)
    if failed and last is not None:
        conditions = set_condition(
            conditions,
            type=FAILED,
            status=True,
            reason=last.reason,
            message=f"failed by the failure policy after {last.reason} of pod {last.pod}",
            generation=generation,
            now=now,
        )
    elif last is not None:
        conditions = set_condition(
            conditions,
            type=RESTARTING,
            status=restarting is not None,
            reason="Restarting" if restarting else "Recovered",
            message=restarting or f"recovered from {last.reason} of pod {last.pod} ({last.action})",
            generation=generation,
            now=now,
        )
    if spec.network.headless_service:
        conditions = set_condition(
            conditions,
            type=SERVICE_READY,
            status=service_problem is None,
            reason="ServiceConflict" if service_problem else "Owned",
            message=service_problem or f"headless Service {group} selects the members",
            generation=generation,
            now=now,
        )
    if resize is not None:
        conditions = set_condition(
            conditions,
            type=RESIZING,
            status=resizing is not None,
            reason="Resizing" if resizing else "Settled",
            message=resizing or "no resize in progress",
            generation=generation,
            now=now,
        )
        conditions = set_condition(
            conditions,
            type=RESIZE_INFEASIBLE,
            status=resize_infeasible is not None,
            reason="NodeTooSmall" if resize_infeasible else "Feasible",
            message=resize_infeasible or "every recommended size fits its node",
            generation=generation,
            now=now,
        )
    return PodGroupStatus(
        phase=group_phase(roles, minimum, admitted, failed=failed, restarting=restarting is not None),
        observed_generation=generation,
        conditions=conditions,
        roles=roles,
        ready_members=f"{ready}/{desired}",
        restarts=(previous.restarts if previous and previous.restarts is not None else 0),
        gang=gang,
        restart_generation=previous.restart_generation if previous else None,
        last_failure=last,
        actions=previous.actions if previous else None,
        resize=resize,
    )


def restart_in_progress(status: PodGroupStatus | None, pods: list[ObservedPod]) -> str | None:
    """Why the group counts as restarting: a restart action taken and members not back yet."""
    last = status.last_failure if status else None
    if last is None or last.action in (Action.IGNORE, Action.FAIL_GROUP):
        return None
    generation = (status.restart_generation if status else None) or 0
    behind = [p.name for p in pods if p.active and p.restart_generation < generation]
    if behind:
        return f"restarting in place to generation {generation}: {len(behind)} members to go"
    if all(p.ready for p in pods if p.active) and pods:
        return None
    return f"{last.action} after {last.reason} of pod {last.pod}; waiting for members to be ready"
