"""What each failure-policy action writes, one small applier per action (the table at the
end). The decision is already recorded in status when an applier runs, so every applier is
safe to run again: an interrupted action is completed, never repeated in effect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failures import Failure, restarting_natively
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.restart import (
    KubeletRestarting,
    NotRestartable,
    handled_patch,
    native_handled,
    restart_in_place,
    restart_patch,
    stop_patch,
    to_recreate,
    to_stop,
)
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.k8s.adapter import GroupRef

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedMember:
    """One recorded failure and what an applier acts on."""

    ctx: OperatorContext
    group: GroupRef
    spec: PodGroupSpec
    record: PodGroupStatus
    pods: list[ObservedPod]
    failure: Failure
    pod: ObservedPod  # the failing member
    handled: dict[str, int]  # what its handled-failures annotation gains

    @property
    def template(self) -> dict:
        return next((r.template for r in self.spec.roles if r.name == self.pod.role), {})

    async def account(self) -> None:
        """The restart is done (by the kubelet): only record the failure as handled."""
        await self.ctx.writer.patch_pod(
            self.group.namespace, self.pod.name, self.pod.uid, handled_patch(self.pod, self.handled)
        )


async def converge_group_restart(
    ctx: OperatorContext,
    group: GroupRef,
    spec: PodGroupSpec,
    status: PodGroupStatus | None,
    pods: list[ObservedPod],
) -> None:
    """Members still below the group's restart generation restart now (level-triggered, so a
    restart interrupted by an operator crash is completed, and never done twice)."""
    generation = (status.restart_generation if status else None) or 0
    templates = {r.name: r.template for r in spec.roles}
    # A member the kubelet is restarting through its native rule is restarted for the
    # generation once that is over (a pod event brings the next reconcile).
    behind = [
        p
        for p in pods
        if p.active and p.scheduled and p.restart_generation < generation and not restarting_natively(p)
    ]
    await asyncio.gather(
        *(_restart(ctx, group, p, templates.get(p.role, {}), generation, {}) for p in behind)
    )


async def _restart(
    ctx: OperatorContext,
    group: GroupRef,
    pod: ObservedPod,
    template: dict,
    generation: int | None,
    handled: dict[str, int],
) -> bool:
    plan = restart_in_place(pod, template, generation=generation, handled=handled, now=ctx.clock())
    if isinstance(plan, KubeletRestarting):
        # Completed from the record on a later reconcile: the kubelet's next status brings one.
        logger.debug(
            "PodGroup %s/%s: %s: %s restarts first", group.namespace, group.name, pod.name, plan.container
        )
        return False
    if isinstance(plan, NotRestartable):
        logger.warning(
            "PodGroup %s/%s: cannot restart %s in place: %s", group.namespace, group.name, pod.name, plan.why
        )
        await ctx.writer.post_event(
            group,
            Event("Warning", "InPlaceRestartImpossible", f"pod {pod.name}: {plan.why}; recreating it"),
            ctx.clock(),
        )
        await ctx.writer.delete_pod(group.namespace, pod.name, pod.uid)
        return False
    return await ctx.writer.patch_pod(group.namespace, pod.name, pod.uid, restart_patch(plan))


async def recreate_pod(m: FailedMember) -> None:
    await m.ctx.writer.delete_pod(m.group.namespace, m.pod.name, m.pod.uid)


async def restart_container(m: FailedMember) -> None:
    """Ignore and RestartContainer: the kubelet restarts the container; a pod that has ended
    cannot restart in place and is recreated."""
    if m.pod.phase == "Failed":
        await recreate_pod(m)
    else:
        await m.account()


async def restart_pod_in_place(m: FailedMember) -> None:
    if m.pod.phase == "Failed":
        await recreate_pod(m)
    elif m.failure.native:  # the kubelet restarts it: only the accounting is left
        await m.account()
    else:
        await _restart(m.ctx, m.group, m.pod, m.template, None, m.handled)


async def restart_group_in_place(m: FailedMember) -> None:
    """Every member restarts through the generation bump; a failing member that cannot
    restart where it is (its node is lost, or it ended) is recreated instead."""
    if m.failure.in_place_possible and m.pod.phase != "Failed":
        if m.failure.native:  # its generation restart waits for the kubelet's to end: account now
            await m.account()
        handled = {**m.pod.handled, **m.handled}
        refreshed = [p if p.uid != m.pod.uid else replace(p, handled=handled) for p in m.pods]
    else:
        await recreate_pod(m)
        refreshed = [p for p in m.pods if p.uid != m.pod.uid]
    await converge_group_restart(m.ctx, m.group, m.spec, m.record, refreshed)


async def recreate_group(m: FailedMember) -> None:
    await asyncio.gather(
        *(m.ctx.writer.delete_pod(m.group.namespace, p.name, p.uid) for p in m.pods if not p.deleting)
    )


async def converge_group_recreate(
    ctx: OperatorContext, group: GroupRef, status: PodGroupStatus | None, pods: list[ObservedPod]
) -> None:
    """Members a recorded RecreateGroup has not deleted yet are deleted now (level-triggered, as
    converge_group_restart: an interrupted recreate is completed from the record alone)."""
    left = to_recreate(pods, status.last_failure if status else None)
    await asyncio.gather(*(ctx.writer.delete_pod(group.namespace, p.name, p.uid) for p in left))


async def fail_group(m: FailedMember) -> None:
    """Every active member is stopped through activeDeadlineSeconds and kept with its logs."""
    await stop_members(m.ctx, m.group, m.pods, {m.pod.uid: m.handled})


async def stop_members(
    ctx: OperatorContext,
    group: GroupRef,
    pods: list[ObservedPod],
    handled: dict[str, dict[str, int]] | None = None,
) -> None:
    """Stop what of a failed group is not stopped yet (level-triggered: run on every reconcile
    of a failed group, it completes a FailGroup an operator crash interrupted, and writes
    nothing once every member has its stop deadline). `handled`: per pod uid, the failure keys
    its annotation gains."""
    stopping = ctx.memory.of((group.namespace, group.name), group.uid).stopping
    left = to_stop(pods)
    stopping.intersection_update(p.uid for p in left)  # the rest are seen stopped, or gone
    stops = [(p, stop_patch(p, (handled or {}).get(p.uid, {}))) for p in left if p.uid not in stopping]
    stopping.update(p.uid for p, _ in stops)
    await asyncio.gather(*(ctx.writer.patch_pod(group.namespace, p.name, p.uid, patch) for p, patch in stops))


APPLIERS: dict[Action, Callable[[FailedMember], Awaitable[None]]] = {
    Action.IGNORE: restart_container,
    Action.RESTART_CONTAINER: restart_container,
    Action.RESTART_POD_IN_PLACE: restart_pod_in_place,
    Action.RESTART_GROUP_IN_PLACE: restart_group_in_place,
    Action.RECREATE_POD: recreate_pod,
    Action.RECREATE_GROUP: recreate_group,
    Action.FAIL_GROUP: fail_group,
}


async def apply_action(
    ctx: OperatorContext,
    group: GroupRef,
    spec: PodGroupSpec,
    record: PodGroupStatus,
    pods: list[ObservedPod],
    failure: Failure,
    action: Action,
) -> None:
    failing = next(p for p in pods if p.uid == failure.pod_uid)
    # A native restart restarts every container of the failing pod: all of them are accounted.
    handled = native_handled(failing) if failure.native else {failure.key: failure.count}
    await APPLIERS[action](FailedMember(ctx, group, spec, record, pods, failure, failing, handled))
