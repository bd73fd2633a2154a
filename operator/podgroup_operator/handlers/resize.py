"""Automatic in-place resize of one PodGroup, the observing half: usage (k8s.usage) ->
recommendation (core.resize.recommender) -> the resizes to send (core.resize.plan), returned as
the plan's ResizeStep; handlers/plan_executor.py sends them (pods/resize) with the plan's writes.

What the recommender has learnt lives in memory and is checkpointed in status.resize.usage at
most once a minute, so a restarted operator goes on from the checkpoint, not from nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.api.resize import ResizeMode, ResizeStatus, UsageCheckpoint
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.placement import member_room
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
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.plan import PlanSettings, plan_role, pod_resize_state
from podgroup_operator.core.resize.polling import next_poll_delay
from podgroup_operator.core.resize.recommender import Recommendation, recommend, to_status
from podgroup_operator.core.resize.step import ResizeStep
from podgroup_operator.core.resize.usage import RoleUsage, pod_level_samples
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.memory import GroupMemory
from podgroup_operator.k8s.adapter import GroupRef

logger = logging.getLogger(__name__)


def _params(ctx: OperatorContext, spec: PodGroupSpec) -> RecommenderParams:
    return RecommenderParams.from_policy(
        spec.resize,
        min_samples=ctx.config.resize_min_samples,
        min_history=timedelta(seconds=ctx.config.resize_min_history_seconds),
    )


def _usage(
    memory: GroupMemory,
    role: str,
    pod: str | None,
    checkpoints: dict,
    params: RecommenderParams,
) -> RoleUsage:
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
) -> ResizeStep | None:
    """None when the group is not resized (mode Off)."""
    policy = spec.resize
    if policy.mode == ResizeMode.OFF:
        return None
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
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    learnt = memory.usage
    for role in spec.roles:
        role_members = [p for p in members if p.role == role.name]
        names = sized_names(role)
        role_samples = [s for s in samples if role_of.get(s.pod) == role.name]
        if sized_at_pod_level(role):
            role_samples += pod_level_samples(role_samples)
        recs: dict[str | None, Recommendation] = {}
        for owner in usage_owners(group.name, spec, role, {*learnt, *checkpoints}, role_members):
            usage = _usage(memory, role.name, owner, checkpoints, params)
            usage.add_all(s for s in role_samples if owner in (None, s.pod))
            for kill in oom_kills(role_members, owner):
                usage.record_oom(kill.pod, kill.container, kill.time, kill.memory_bytes)
            recs[owner] = recommend(usage, policy, now, containers=names, params=params)
            recommendations.append(to_status(role.name, recs[owner], pod=owner))
            if owner is None:
                usage_checkpoints.append(usage.to_checkpoint(role.name))
            elif len(usage_checkpoints) < MAX_MEMBER_CHECKPOINTS:
                usage_checkpoints.append(usage.to_checkpoint(role.name, owner, MEMBER_CHECKPOINT_BUCKETS))
        states = [
            pod_resize_state(p, member_room(p.node_name, p.requests, ctx.nodes, ctx.node_pods))
            for p in role_members
            if p.scheduled
        ]
        recommendation = recs[None] if policy.uniform else {k: v for k, v in recs.items() if k is not None}
        decisions += plan_role(states, recommendation, settings, now)

    kept = kept_owners(group.name, spec)
    for gone in [o for o in learnt if o not in kept]:
        del learnt[gone]  # members that are gone (or of the other sizing mode)
    # Look again just after the next scrape is due, so a load change is seen within one scrape.
    beat = ctx.memory.scrape_beat
    beat.update(samples)
    requeue = next_poll_delay(now, beat.newest, beat.window, ctx.config.resize_interval_seconds)
    logger.debug(
        "PodGroup %s/%s: %d usage samples, the source's newest %s; again in %.1fs",
        group.namespace, group.name, len(samples), beat.newest, requeue,
    )  # fmt: skip
    return ResizeStep(
        decisions=tuple(decisions),
        recommendations=tuple(recommendations[:MAX_RECOMMENDATIONS]),
        usage=_checkpoint(memory, usage_checkpoints, before, ctx.clock()),
        last=before.last_resize if before else None,
        requeue=requeue,
    )


def _checkpoint(
    memory: GroupMemory, fresh: list[UsageCheckpoint], before: ResizeStatus | None, now: datetime
) -> list[UsageCheckpoint] | None:
    stored = before.usage if before else None
    if not checkpoint_due(bool(stored), memory.checkpointed, now):
        return stored
    memory.checkpointed = now
    return fresh or None
