"""What each failure-policy action writes, one small applier per action (the table at the
end), as JobSet's failure_policy.go maps actions to functions. Pure: an applier returns the
writes, the plan's executor sends them after the decision is recorded. Since the record comes
first, every applier is safe to run again: an interrupted action is completed, never repeated
in effect."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failures import Failure, restarting_natively
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.restart import (
    NotRestartable,
    PodRestart,
    handled_patch,
    native_handled,
    restart_in_place,
    restart_patch,
    stop_patch,
    to_recreate,
    to_stop,
)
from podgroup_operator.core.writes import PodDelete, PodPatch, PodWrites


@dataclass(frozen=True)
class Applied:
    """An action's writes, and, for a stop, the members now given their stop deadline (to
    remember until the index shows them stopped; None: unchanged)."""

    writes: PodWrites = field(default_factory=PodWrites)
    stopping: frozenset[str] | None = None


@dataclass(frozen=True)
class FailedMember:
    """One recorded failure and what an applier acts on."""

    spec: PodGroupSpec
    record: PodGroupStatus
    pods: Sequence[ObservedPod]
    failure: Failure
    pod: ObservedPod  # the failing member
    handled: dict[str, int]  # what its handled-failures annotation gains
    stopping: Collection[str]  # members given their stop deadline, not yet seen stopped
    now: datetime

    def account(self) -> PodWrites:
        """The restart is done (by the kubelet): only record the failure as handled."""
        return PodWrites(patches=(_patch(self.pod, handled_patch(self.pod, self.handled)),))


def _patch(pod: ObservedPod, patch: dict[str, Any]) -> PodPatch:
    return PodPatch(pod.name, pod.uid, patch)


def _delete(pod: ObservedPod) -> PodDelete:
    return PodDelete(pod.name, pod.uid)


def _restart(
    pod: ObservedPod, template: dict, generation: int | None, handled: Mapping[str, int], now: datetime
) -> PodWrites:
    """Switch the pod's images, unless the kubelet is starting it again (completed from the
    record on a later reconcile: the kubelet's next status brings one) or it cannot restart in
    place (recreated, and said why)."""
    plan = restart_in_place(pod, template, generation=generation, handled=handled, now=now)
    if isinstance(plan, NotRestartable):
        why = Event("Warning", "InPlaceRestartImpossible", f"pod {pod.name}: {plan.why}; recreating it")
        return PodWrites(deletes=(_delete(pod),), events=(why,))
    if isinstance(plan, PodRestart):
        return PodWrites(patches=(_patch(pod, restart_patch(plan)),))
    return PodWrites()


def group_restart(
    spec: PodGroupSpec, status: PodGroupStatus | None, pods: Sequence[ObservedPod], now: datetime
) -> PodWrites:
    """Members still below the group's restart generation restart now (level-triggered, so a
    restart interrupted by an operator crash is completed, and never done twice)."""
    generation = (status.restart_generation if status else None) or 0
    templates = {r.name: r.template for r in spec.roles}
    # A member the kubelet is restarting through its native rule is restarted for the
    # generation once that is over (a pod event brings the next reconcile).
    writes = PodWrites()
    for p in pods:
        if p.active and p.scheduled and p.restart_generation < generation and not restarting_natively(p):
            writes += _restart(p, templates.get(p.role, {}), generation, {}, now)
    return writes


def group_recreate(status: PodGroupStatus | None, pods: Sequence[ObservedPod]) -> PodWrites:
    """Members a recorded RecreateGroup has not deleted yet are deleted now (level-triggered, as
    group_restart: an interrupted recreate is completed from the record alone)."""
    left = to_recreate(pods, status.last_failure if status else None)
    return PodWrites(deletes=tuple(_delete(p) for p in left))


def stop_members(
    pods: Sequence[ObservedPod],
    stopping: Collection[str],
    handled: Mapping[str, Mapping[str, int]] | None = None,
) -> Applied:
    """Stop what of a failed group is not stopped yet (level-triggered: run on every reconcile
    of a failed group, it completes a FailGroup an operator crash interrupted, and writes
    nothing once every member has its stop deadline). `handled`: per pod uid, the failure keys
    its annotation gains."""
    left = to_stop(pods)
    still = {p.uid for p in left} & set(stopping)  # the rest are seen stopped, or gone
    stops = tuple(
        _patch(p, stop_patch(p, (handled or {}).get(p.uid, {}))) for p in left if p.uid not in still
    )
    return Applied(PodWrites(patches=stops), frozenset(still | {s.uid for s in stops}))


def recreate_pod(m: FailedMember) -> Applied:
    return Applied(PodWrites(deletes=(_delete(m.pod),)))


def restart_container(m: FailedMember) -> Applied:
    """Ignore and RestartContainer: the kubelet restarts the container; a pod that has ended
    cannot restart in place and is recreated."""
    return recreate_pod(m) if m.pod.phase == "Failed" else Applied(m.account())


def restart_pod_in_place(m: FailedMember) -> Applied:
    if m.pod.phase == "Failed":
        return recreate_pod(m)
    if m.failure.native:  # the kubelet restarts it: only the accounting is left
        return Applied(m.account())
    template = next((r.template for r in m.spec.roles if r.name == m.pod.role), {})
    return Applied(_restart(m.pod, template, None, m.handled, m.now))


def restart_group_in_place(m: FailedMember) -> Applied:
    """Every member restarts through the generation bump; a failing member that cannot
    restart where it is (its node is lost, or it ended) is recreated instead."""
    if m.failure.in_place_possible and m.pod.phase != "Failed":
        # A native restart's generation restart waits for the kubelet's to end: account now.
        first = m.account() if m.failure.native else PodWrites()
        handled = {**m.pod.handled, **m.handled}
        refreshed = [p if p.uid != m.pod.uid else replace(p, handled=handled) for p in m.pods]
    else:
        first = recreate_pod(m).writes
        refreshed = [p for p in m.pods if p.uid != m.pod.uid]
    return Applied(first + group_restart(m.spec, m.record, refreshed, m.now))


def recreate_group(m: FailedMember) -> Applied:
    return Applied(PodWrites(deletes=tuple(_delete(p) for p in m.pods if not p.deleting)))


def fail_group(m: FailedMember) -> Applied:
    """Every active member is stopped through activeDeadlineSeconds and kept with its logs."""
    return stop_members(m.pods, m.stopping, {m.pod.uid: m.handled})


APPLIERS: dict[Action, Callable[[FailedMember], Applied]] = {
    Action.IGNORE: restart_container,
    Action.RESTART_CONTAINER: restart_container,
    Action.RESTART_POD_IN_PLACE: restart_pod_in_place,
    Action.RESTART_GROUP_IN_PLACE: restart_group_in_place,
    Action.RECREATE_POD: recreate_pod,
    Action.RECREATE_GROUP: recreate_group,
    Action.FAIL_GROUP: fail_group,
}


def apply_action(
    spec: PodGroupSpec,
    record: PodGroupStatus,
    pods: Sequence[ObservedPod],
    failure: Failure,
    action: Action,
    stopping: Collection[str],
    now: datetime,
) -> Applied:
    failing = next(p for p in pods if p.uid == failure.pod_uid)
    # A native restart restarts every container of the failing pod: all of them are accounted.
    handled = native_handled(failing) if failure.native else {failure.key: failure.count}
    member = FailedMember(spec, record, pods, failure, failing, handled, stopping, now)
    return APPLIERS[action](member)
