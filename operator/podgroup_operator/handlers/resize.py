"""Automatic in-place resize of one PodGroup: usage (k8s.usage) -> recommendation
(core.resize.recommender) -> plan (core.resize.plan) -> pods/resize (k8s.adapter).

What the recommender has learnt lives in memory and is checkpointed in status.resize.usage at
most once a minute, so a restarted operator goes on from the checkpoint, not from nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.api.resize import ResizeMode, ResizeStatus, UsageCheckpoint
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import room_on_node
from podgroup_operator.core.resize.group import (
    MAX_MEMBER_CHECKPOINTS,
    MAX_RECOMMENDATIONS,
    MEMBER_CHECKPOINT_BUCKETS,
    checkpoint_due,
    kept_owners,
    oom_kills,
    sized_at_pod_level,
    sized_names,
    usage_owners,
)
from podgroup_operator.core.resize.outcome import ResizeOutcomes, resize_outcomes
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.patch import resize_patch
from podgroup_operator.core.resize.plan import PlanSettings, PodResize, plan_role, pod_resize_state
from podgroup_operator.core.resize.polling import next_poll_delay
from podgroup_operator.core.resize.recommender import Recommendation, recommend, to_status
from podgroup_operator.core.resize.usage import RoleUsage, pod_level_samples
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import RESIZES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResizeOutcome:
    status: ResizeStatus | None
    resizing: str | None = None  # why the group counts as resizing now
    infeasible: str | None = None  # a resize the nodes cannot give
    requeue: float | None = None
    # The resizes made, announced once the status that records them is written.
    events: tuple[Event, ...] = ()


def _params(ctx: OperatorContext, spec: PodGroupSpec) -> RecommenderParams:
    return RecommenderParams.from_policy(
        spec.resize,
        min_samples=ctx.config.resize_min_samples,
        min_history=timedelta(seconds=ctx.config.resize_min_history_seconds),
    )


def _room(ctx: OperatorContext, pod: ObservedPod) -> dict[str, Decimal] | None:
    """What the member's node can still give it: allocatable minus the others' requests."""
    if pod.node_name is None:
        return None
    store = ctx.nodes.get(pod.node_name)
    node = next(iter(store), None) if store else None
    if node is None:
        return None
    return room_on_node(node.allocatable, ctx.node_pods.get(pod.node_name, []), pod.requests)


def _usage(
    ctx: OperatorContext,
    group: GroupRef,
    role: str,
    pod: str | None,
    checkpoints: dict,
    params: RecommenderParams,
) -> RoleUsage:
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    usage = memory.usage.get((role, pod))
    if usage is None:
        checkpoint = checkpoints.get((role, pod))
        usage = RoleUsage.from_checkpoint(checkpoint, params) if checkpoint else RoleUsage(params)
        memory.usage[(role, pod)] = usage
    return usage


async def reconcile_resize(
    ctx: OperatorContext,
    group: GroupRef,
    spec: PodGroupSpec,
    previous: PodGroupStatus | None,
    pods: Sequence[ObservedPod],
) -> ResizeOutcome:
    policy = spec.resize
    if policy.mode == ResizeMode.OFF:
        return ResizeOutcome(None)
    now, params = ctx.clock(), _params(ctx, spec)
    before = previous.resize if previous else None
    checkpoints = {(cp.role, cp.pod): cp for cp in (before.usage if before and before.usage else [])}
    members = [p for p in pods if p.active]
    role_of = {p.name: p.role for p in members}
    samples = await ctx.usage.samples(group.namespace, group.name) if ctx.usage else []
    settings = PlanSettings.from_policy(
        policy,
        pod_level_resize_supported=ctx.config.pod_level_resize,
        resize_subresource=ctx.features.pods_resize is not False,
    )

    recommendations, usage_checkpoints, decisions = [], [], []
    learnt = ctx.memory.of((group.namespace, group.name), group.uid).usage
    for role in spec.roles:
        role_members = [p for p in members if p.role == role.name]
        names = sized_names(role)
        role_samples = [s for s in samples if role_of.get(s.pod) == role.name]
        if sized_at_pod_level(role):
            role_samples += pod_level_samples(role_samples)
        recs: dict[str | None, Recommendation] = {}
        for owner in usage_owners(group.name, spec, role, {*learnt, *checkpoints}, role_members):
            usage = _usage(ctx, group, role.name, owner, checkpoints, params)
            usage.add_all(s for s in role_samples if owner in (None, s.pod))
            for kill in oom_kills(role_members, owner):
                usage.record_oom(kill.pod, kill.container, kill.time, kill.memory_bytes)
            recs[owner] = recommend(usage, policy, now, containers=names, params=params)
            recommendations.append(to_status(role.name, recs[owner], pod=owner))
            if owner is None:
                usage_checkpoints.append(usage.to_checkpoint(role.name))
            elif len(usage_checkpoints) < MAX_MEMBER_CHECKPOINTS:
                usage_checkpoints.append(usage.to_checkpoint(role.name, owner, MEMBER_CHECKPOINT_BUCKETS))
        states = [pod_resize_state(p, _room(ctx, p)) for p in role_members if p.scheduled]
        recommendation = recs[None] if policy.uniform else {k: v for k, v in recs.items() if k is not None}
        decisions += plan_role(states, recommendation, settings, now)

    _forget_departed(ctx, group, kept_owners(group.name, spec))
    outcomes = await _apply(ctx, group, decisions, before)
    status = ResizeStatus(
        recommendations=recommendations[:MAX_RECOMMENDATIONS] or None,
        last_resize=outcomes.last,
        usage=_checkpoint(ctx, group, usage_checkpoints, before),
    )
    # Look again just after the next scrape is due, so a load change is seen within one scrape.
    beat = ctx.memory.scrape_beat
    beat.update(samples)
    requeue = next_poll_delay(now, beat.newest, beat.window, ctx.config.resize_interval_seconds)
    logger.debug(
        "PodGroup %s/%s: %d usage samples, the source's newest %s; again in %.1fs",
        group.namespace, group.name, len(samples), beat.newest, requeue,
    )  # fmt: skip
    return ResizeOutcome(
        status, outcomes.resizing, outcomes.infeasible, requeue=requeue, events=outcomes.events
    )


def _forget_departed(ctx: OperatorContext, group: GroupRef, owners: set[tuple[str, str | None]]) -> None:
    """Drop in-memory usage of members that are gone (or of the other sizing mode)."""
    learnt = ctx.memory.of((group.namespace, group.name), group.uid).usage
    for owner in [o for o in learnt if o not in owners]:
        del learnt[owner]


async def _apply(
    ctx: OperatorContext, group: GroupRef, decisions: list[PodResize], before: ResizeStatus | None
) -> ResizeOutcomes:
    now = ctx.clock()
    refused = {
        d.pod: await ctx.writer.resize_pod(group.namespace, d.pod, resize_patch(d), now)
        for d in decisions
        if d.apply
    }
    outcomes = resize_outcomes(decisions, refused, before.last_resize if before else None, now)
    for result in outcomes.results:
        RESIZES.labels(result).inc()
    return outcomes


def _checkpoint(
    ctx: OperatorContext, group: GroupRef, fresh: list[UsageCheckpoint], before: ResizeStatus | None
) -> list[UsageCheckpoint] | None:
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    stored = before.usage if before else None
    now = ctx.clock()
    if not checkpoint_due(bool(stored), memory.checkpointed, now):
        return stored
    memory.checkpointed = now
    return fresh or None
