"""One reconcile as one plan, decided from one observed snapshot.

The plan says, in the order handlers/plan_executor.py carries it out: the decision to record
first (a failure decision, or a gang rollback), alone, so that an operator killed in between
finds it decided and only completes it; then the group's Service, the member pods to create,
delete and patch (the failure action's writes among them) and the in-place resizes to send;
then the status, written once, the events that announce it, and when to come back. The status
depends on what the API server made of the writes (a refusal is its message, a create counts
before the watch shows it), so the plan holds it as a pure function of those results,
`status_after`, which the executor calls once they are known.

A group whose members are all created in this plan, none existing yet, may be placed at
creation: the plan holds what it asks of the gang admitter (`placement`), and the executor
creates released (core/admission.released_body) the members the admitter placed.

The failure step (core/failure_step.py) and the resizes (core/resize/step.py) are decided
before the plan, from the same snapshot, and handed in as `EarlierSteps`: the resizes are read
from usage the handler fetches, and go on from the status the failure decision leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podgroup_operator.api.failure_policy import FailurePolicy
from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.api.resize import ResizeResult
from podgroup_operator.core.admission import placement_request
from podgroup_operator.core.conditions import Event, transition_events
from podgroup_operator.core.creation import creation_batch
from podgroup_operator.core.failure_step import FailureStep
from podgroup_operator.core.gang import GangRequest
from podgroup_operator.core.gang_state import (
    after_rollback,
    carried_gang_record,
    next_timeout_check,
    timed_out_release,
)
from podgroup_operator.core.labels import GANG_GATE
from podgroup_operator.core.members import MemberPlan, plan_members
from podgroup_operator.core.native_restart import restart_all_nodes
from podgroup_operator.core.network import headless_service, identity, stale_sizes
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import NodeInfo
from podgroup_operator.core.pods import member_pod
from podgroup_operator.core.resize.step import ResizeStep
from podgroup_operator.core.restart import recreate_group_key
from podgroup_operator.core.status import compute_status, group_failed, restart_in_progress
from podgroup_operator.core.writes import PodCreate, PodDelete, PodPatch


@dataclass(frozen=True)
class Snapshot:
    """What one reconcile observed of its group, read once from the indexes."""

    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: PodGroupSpec
    status: PodGroupStatus | None  # as observed, with the failure record this process wrote
    pods: tuple[ObservedPod, ...]
    nodes: Mapping[str, Iterable[NodeInfo]]  # the node index, read only for roles being created
    now: datetime


@dataclass(frozen=True)
class Remembered:
    """What this process keeps between reconciles that the snapshot cannot show yet."""

    created: Mapping[str, datetime]  # members created, not yet in the pod index
    waiting: str | None  # the gang planner's word on why the gang waits
    last_status: dict[str, Any] | None  # the status last written
    # The last look at the group's Service: None while there was none (or the Service was
    # deleted since), else why it is not the group's own ("" when it is).
    service_problem: str | None = None


@dataclass(frozen=True)
class EarlierSteps:
    """The failure step and the resizes, decided before the plan from the same snapshot."""

    failure: FailureStep | None = None  # None: nothing to do about failures
    resize: ResizeStep | None = None  # None: the group is not resized (mode Off, or failed)


@dataclass(frozen=True)
class Settings:
    max_creates: int
    cluster_domain: str
    # PGO_NATIVE_RESTART is not "off" and the API server keeps container restart rules (while
    # that is not known: no rules; the operator restarts, which is always correct).
    native_restart: bool
    # The API server accepts the RestartAllContainers action (core/features.py); nodes must also
    # declare it. Unknown counts as no: a server without it refuses the whole pod.
    restart_all_api: bool = False
    # The gang's backoff after a rollback: the first delay and its cap, in seconds.
    gang_backoff: tuple[float, float] = (10.0, 300.0)
    # A new group's members may be created already released when its gang fits at once.
    place_at_creation: bool = True


@dataclass(frozen=True)
class RecordWrite:
    """A decision written to status on its own, before the writes that carry it out."""

    patch: dict[str, Any]
    events: tuple[Event, ...]  # posted once it is written
    # A failure decision: the status with it (remembered until the watch shows it), and the
    # (action, reason) it counts in podgroup_restarts_total.
    failure: PodGroupStatus | None = None
    counted: tuple[str, str] | None = None
    rollback: bool = False  # the gang's release timed out: the plan does nothing else


@dataclass(frozen=True)
class StatusWrite:
    patch: dict[str, Any] | None  # None: the status is already what it would write
    events: tuple[Event, ...]  # posted after the patch, in this order
    resize_results: tuple[ResizeResult, ...] = ()  # to count: one per resize sent or first seen


@dataclass(frozen=True)
class ReconcilePlan:
    snapshot: Snapshot
    remembered: Remembered
    earlier: EarlierSteps
    record: RecordWrite | None  # written first, alone
    creates: tuple[PodCreate, ...]
    # Members created and still not in the index; the executor adds the creates that succeed.
    pending: dict[str, datetime]
    # Failure actions' deletes and patches (restarts, stops), scale-downs, new sizes after a scale.
    deletes: tuple[PodDelete, ...]
    patches: tuple[PodPatch, ...]
    requeue: float | None  # when to come back, unless a create is refused (then: retry)
    # The group's headless Service to ensure (created if missing), or None: the group brings its
    # own, or it was looked at before and nothing deleted it since.
    service: dict[str, Any] | None = None
    # What the creates ask of the gang admitter before they are sent: the whole gang, planned
    # from these bodies. None: the members are created gated (the admitter releases them later).
    placement: GangRequest | None = None

    def status_after(
        self,
        created: int,
        create_error: str | None,
        service_problem: str | None = None,
        resize_refused: Mapping[str, str | None] | None = None,
    ) -> StatusWrite:
        """The status to write once `created` creates of this plan succeeded (`create_error`: the first
        refusal), where the plan ensures the Service, that found `service_problem`, and the
        resizes sent got their answers (`resize_refused`: per pod, the refusal or None)."""
        s, earlier = self.snapshot, self.earlier
        if self.record is not None and self.record.rollback:
            return StatusWrite(None, ())
        failure = earlier.failure
        action_events = failure.writes.events if failure else ()
        resize, resized = (
            earlier.resize.after(resize_refused or {}, s.now) if earlier.resize else (None, None)
        )
        later_events = (*action_events, *(resized.events if resized else ()))
        previous = s.status
        if self.service is None:
            service_problem = self.remembered.service_problem or None
        if not s.spec.network.headless_service:
            service_problem = None
        status = compute_status(
            group=s.name,
            spec=s.spec,
            generation=s.generation,
            pods=s.pods,
            previous=previous,
            create_error=create_error,
            # Earlier creates the index does not show yet count as well: a watch that lags
            # behind the operator's own creates must not flip PodsCreated to False and back.
            created=created + len(self.pending),
            gang=carried_gang_record(previous.gang if previous else None, list(s.pods)),
            waiting_message=self.remembered.waiting,
            restarting=(failure.waiting if failure else None) or restart_in_progress(previous, list(s.pods)),
            resize=resize,
            resizing=resized.resizing if resized else None,
            resize_infeasible=resized.infeasible if resized else None,
            service_problem=service_problem,
            now=s.now,
        )
        results = resized.results if resized else ()
        wire = status.to_dict()
        if wire == (previous.to_dict() if previous else None) or wire == self.remembered.last_status:
            return StatusWrite(None, later_events, results)
        before = (previous.conditions if previous else None) or []
        announced = transition_events(before, status.conditions or [])
        return StatusWrite(wire, (*announced, *later_events), results)


def _restart_rules(
    snapshot: Snapshot, policy: FailurePolicy, template: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """How member_pod writes the kubelet's restart rules into a member of this template: not at
    all when PGO_NATIVE_RESTART=off or the API server drops them; RestartAllContainers only when
    the API server accepts it and every node the pod may land on declares it (the scheduler
    keeps such pods off other nodes)."""
    if not settings.native_restart:
        return {}
    nodes = [n for store in snapshot.nodes.values() for n in store]
    restart_all = settings.restart_all_api and restart_all_nodes(nodes, template.get("spec") or {})
    return {"native_policy": policy, "restart_all": restart_all}


def _rollback(
    snapshot: Snapshot, remembered: Remembered, stuck: ObservedPod, settings: Settings
) -> ReconcilePlan:
    """Release the capacity a partial placement holds: delete every member (they come back
    gated) and back off. The record is written first, so a crash in between only repeats it."""
    s = snapshot
    record = after_rollback(s.status.gang if s.status else None, s.now, *settings.gang_backoff)
    delay = (record.next_attempt_time - s.now).total_seconds() if record.next_attempt_time else 0
    timeout = s.spec.gang.schedule_timeout_seconds
    message = (
        f"pod {stuck.name} was not bound within {timeout}s of its release (planned node "
        f"{stuck.planned_node}); rolled back the gang, next attempt in {delay:.0f}s"
    )
    return ReconcilePlan(
        snapshot=s,
        remembered=remembered,
        earlier=EarlierSteps(),
        record=RecordWrite(
            {"gang": record.to_dict()}, (Event("Warning", "ScheduleTimeout", message),), rollback=True
        ),
        creates=(),
        pending={},
        deletes=tuple(PodDelete(p.name, p.uid) for p in s.pods if p.active),
        patches=(),
        requeue=delay,
    )


def _failure_record(step: FailureStep | None) -> RecordWrite | None:
    act = step.act if step else None
    if act is None or act.record_patch is None:
        return None  # nothing newly decided (or only completed: recorded before)
    events = (act.event,) if act.event else ()
    return RecordWrite(act.record_patch, events, act.record, (str(act.action), act.failure.reason))


def resizes(snapshot: Snapshot, failure: FailureStep) -> bool:
    """Whether this reconcile looks at resizing at all: not while the gang rolls back, nor once
    the group has failed."""
    s = snapshot
    return timed_out_release(s.spec, s.pods, s.now) is None and not group_failed(failure.status)


def plan_reconcile(
    snapshot: Snapshot, remembered: Remembered, earlier: EarlierSteps, settings: Settings
) -> ReconcilePlan:
    s, spec = snapshot, snapshot.spec
    pods = list(s.pods)
    stuck = timed_out_release(spec, pods, s.now)
    if stuck is not None:
        return _rollback(s, remembered, stuck, settings)
    acting = earlier.failure.writes if earlier.failure else None
    failed = group_failed(s.status)
    # A failed group is terminal: its stopped members are kept, and nothing is recreated.
    members = plan_members(s.name, s.uid, spec, pods) if not failed else MemberPlan((), ())
    batch = creation_batch(
        members.create, {p.name for p in pods}, remembered.created, now=s.now, limit=settings.max_creates
    )
    templates = {role.name: role.template for role in spec.roles}
    # Per role, not per member: it looks at every node (6 % of the operator's CPU at 1000 nodes,
    # py-spy during bench.gang, when it ran per member).
    rules = {
        role.name: _restart_rules(s, spec.failure_policy, role.template, settings)
        for role in spec.roles
        if any(m.role == role.name for m in batch.create)
    }
    generation = (s.status.restart_generation or 0) if s.status else 0
    recreating = recreate_group_key(s.status.last_failure if s.status else None)
    creates = tuple(
        PodCreate(
            m.name,
            member_pod(
                group=s.name,
                group_uid=s.uid,
                member=m,
                template=templates[m.role],
                gates=(GANG_GATE,),
                restart_generation=generation,
                **rules[m.role],
                identity=identity(s.name, s.namespace, spec, m, settings.cluster_domain),
                recreated_for=recreating,
            ),
        )
        for m in batch.create
    )
    # Only a group with no member yet, all of them in this batch: the plan of a whole new gang.
    whole_gang = settings.place_at_creation and bool(creates) and not pods and not remembered.created
    placement = (
        placement_request((s.namespace, s.name), spec, s.status, creates, s.now)
        if whole_gang and not batch.more
        else None
    )
    uids = {p.name: p.uid for p in pods}
    leaving = set(members.delete)
    resized = (
        ()
        if failed
        else tuple(
            PodPatch(p.pod, p.uid, {"metadata": {"annotations": p.annotations}})
            for p in stale_sizes(spec, pods, s.uid)
            if p.pod not in leaving
        )
    )
    failure_deletes = acting.deletes if acting else ()
    deleted = {d.uid for d in failure_deletes}
    scaled_down = tuple(PodDelete(n, uids[n]) for n in members.delete if uids[n] not in deleted)
    # More members to create: again at once, behind the groups already waiting (their turn).
    more = 0.0 if batch.more else None
    resize_requeue = earlier.resize.requeue if earlier.resize else None
    failure_requeue = earlier.failure.requeue if earlier.failure else None
    requeues = (next_timeout_check(spec, pods, s.now), failure_requeue, resize_requeue, more)
    return ReconcilePlan(
        snapshot=s,
        remembered=remembered,
        earlier=earlier,
        record=_failure_record(earlier.failure),
        creates=creates,
        pending=dict(batch.pending),
        deletes=(*failure_deletes, *scaled_down),
        patches=(*(acting.patches if acting else ()), *resized),
        requeue=min((t for t in requeues if t is not None), default=None),
        service=(
            headless_service(s.name, s.uid, s.namespace)
            if spec.network.headless_service and remembered.service_problem is None
            else None
        ),
        placement=placement,
    )
