"""Automatic in-place resize of one PodGroup: usage (k8s.usage) -> recommendation
(core.recommender) -> plan (core.resize_plan) -> pods/resize (k8s.adapter).

What the recommender has learnt lives in memory and is checkpointed in status.resize.usage at
most once a minute, so a restarted operator goes on from the checkpoint, not from nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus, Role
from podgroup_operator.api.resize import LastResize, ResizeMode, ResizeResult, ResizeStatus, UsageCheckpoint
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.recommender import (
    Recommendation,
    RecommenderParams,
    RoleUsage,
    recommend,
    to_status,
)
from podgroup_operator.core.resize_plan import (
    PlanSettings,
    PodResize,
    plan_role,
    pod_resize_state,
    resize_patch,
)
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.metrics import RESIZES

CHECKPOINT_EVERY = timedelta(seconds=60)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResizeOutcome:
    status: ResizeStatus | None
    resizing: str | None = None  # why the group counts as resizing now
    infeasible: str | None = None  # a resize the nodes cannot give
    requeue: float | None = None


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
    room = dict(node.allocatable)
    for requests in ctx.node_pods.get(pod.node_name, []):
        for r, q in requests.items():
            room[r] = room.get(r, Decimal(0)) - q
    for r, q in pod.requests.items():
        room[r] = room.get(r, Decimal(0)) + q
    return room


def _memory_limit(pod: ObservedPod, container: str) -> float | None:
    for c in (pod.body.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            return float(parse_quantity(limit)) if limit is not None else None
    return None


def _usage(
    ctx: OperatorContext,
    group: GroupRef,
    role: str,
    pod: str | None,
    checkpoints: dict,
    params: RecommenderParams,
) -> RoleUsage:
    key = (group.namespace, group.name, role, pod)
    usage = ctx.resize_usage.get(key)
    if usage is None:
        checkpoint = checkpoints.get((role, pod))
        usage = RoleUsage.from_checkpoint(checkpoint, params) if checkpoint else RoleUsage(params)
        ctx.resize_usage[key] = usage
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
    logger.debug("PodGroup %s/%s: %d usage samples", group.namespace, group.name, len(samples))
    settings = PlanSettings.from_policy(policy, pod_level_resize_supported=ctx.config.pod_level_resize)

    recommendations, usage_checkpoints, decisions = [], [], []
    for role in spec.roles:
        role_members = [p for p in members if p.role == role.name]
        names = _container_names(role)
        # Uniform roles learn from all members together; otherwise each member on its own.
        owners: list[str | None] = [None] if policy.uniform else [p.name for p in role_members]
        recs: dict[str | None, Recommendation] = {}
        for owner in owners:
            usage = _usage(ctx, group, role.name, owner, checkpoints, params)
            usage.add_all(s for s in samples if role_of.get(s.pod) == role.name and owner in (None, s.pod))
            for p in role_members:
                if owner not in (None, p.name):
                    continue
                for c in p.containers:
                    t = c.last_termination or c.termination
                    limit = _memory_limit(p, c.name)
                    if t and t.reason == "OOMKilled" and t.finished_at and limit:
                        usage.record_oom(p.name, c.name, t.finished_at, limit)
            recs[owner] = recommend(usage, policy, now, containers=names, params=params)
            recommendations.append(to_status(role.name, recs[owner], pod=owner))
            if policy.uniform:  # per-member checkpoints would outgrow the status of a large role
                usage_checkpoints.append(usage.to_checkpoint(role.name))
        states = [pod_resize_state(p.body, _room(ctx, p)) for p in role_members if p.scheduled]
        recommendation = recs[None] if policy.uniform else {k: v for k, v in recs.items() if k is not None}
        decisions += plan_role(states, recommendation, settings, now)

    last, resizing, infeasible = await _apply(ctx, group, decisions, before)
    status = ResizeStatus(
        recommendations=recommendations or None,
        last_resize=last,
        usage=_checkpoint(ctx, group, usage_checkpoints, before),
    )
    return ResizeOutcome(status, resizing, infeasible, requeue=ctx.config.resize_interval_seconds)


def _container_names(role: Role) -> list[str]:
    return [c.get("name", "") for c in (role.template.get("spec") or {}).get("containers") or []]


async def _apply(
    ctx: OperatorContext, group: GroupRef, decisions: list[PodResize], before: ResizeStatus | None
) -> tuple[LastResize | None, str | None, str | None]:
    now = ctx.clock()
    last = before.last_resize if before else None
    resizing = infeasible = None
    for d in decisions:
        if d.apply:
            refused = await ctx.writer.resize_pod(group.namespace, d.pod, resize_patch(d), now)
            result = ResizeResult.ERROR if refused else (d.result or ResizeResult.APPLIED)
            message = refused or d.message
            RESIZES.labels(result).inc()
            last = LastResize(pod=d.pod, time=now, result=result, message=message[:4096])
            kind = "Warning" if result in (ResizeResult.ERROR, ResizeResult.CAPPED) else "Normal"
            await ctx.writer.post_event(group, Event(kind, f"Resize{result}", f"pod {d.pod}: {message}"), now)
            resizing = f"resized pod {d.pod} in place: {message}"
        elif d.result in (ResizeResult.DEFERRED, ResizeResult.INFEASIBLE, ResizeResult.ERROR):
            # An outcome the kubelet reported: record it once, never resend the same resize.
            if last is None or (last.pod, last.result, last.message) != (d.pod, d.result, d.message):
                RESIZES.labels(d.result).inc()
                last = LastResize(pod=d.pod, time=now, result=d.result, message=d.message[:4096])
            resizing = resizing or (
                f"pod {d.pod}: {d.result}: {d.message}" if d.result == "Deferred" else None
            )
        if d.capped or d.result == ResizeResult.INFEASIBLE:  # capped now, or still short of the target
            infeasible = f"pod {d.pod}: {d.message}"
    return last, resizing, infeasible


def _checkpoint(
    ctx: OperatorContext, group: GroupRef, fresh: list[UsageCheckpoint], before: ResizeStatus | None
) -> list[UsageCheckpoint] | None:
    """The new checkpoint at most once a minute; the stored one in between (fewer status writes)."""
    key = (group.namespace, group.name)
    stored = before.usage if before else None
    last = ctx.resize_checkpointed.get(key)
    if stored and last is not None and ctx.clock() - last < CHECKPOINT_EVERY:
        return stored
    ctx.resize_checkpointed[key] = ctx.clock()
    return fresh or None
