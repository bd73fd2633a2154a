"""Reconcile one PodGroup: observe (indexes) -> decide (core) -> act (adapter)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import transition_events
from podgroup_operator.core.members import plan_members
from podgroup_operator.core.pods import member_pod
from podgroup_operator.core.status import compute_status
from podgroup_operator.handlers.context import GroupKey, OperatorContext
from podgroup_operator.k8s.adapter import GroupRef
from podgroup_operator.runtime.workqueue import RetryLater

logger = logging.getLogger(__name__)


def _observed_group(ctx: OperatorContext, key: GroupKey) -> dict[str, Any] | None:
    store = ctx.groups.get(key)
    return next(iter(store), None) if store else None


async def reconcile(ctx: OperatorContext, key: GroupKey) -> float | None:
    body = _observed_group(ctx, key)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None  # gone or going: its pods are garbage-collected through owner references
    namespace, name = key
    meta = body["metadata"]
    group = GroupRef(namespace, name, meta["uid"])
    try:
        spec = PodGroupSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        # The CRD schema refuses what the models refuse; this guards objects stored before it.
        logger.warning("PodGroup %s/%s has an invalid spec: %s", namespace, name, exc)
        return None
    pods = list(ctx.member_pods.get(key, []))
    plan = plan_members(name, group.uid, spec, pods)

    templates = {role.name: role.template for role in spec.roles}
    results = await asyncio.gather(
        *(
            ctx.writer.create_pod(
                namespace,
                member_pod(group=name, group_uid=group.uid, member=m, template=templates[m.role]),
            )
            for m in plan.create
        )
    )
    refusals = [f"pod {m.name}: {err}" for m, err in zip(plan.create, results, strict=True) if err]
    uids = {p.name: p.uid for p in pods}
    await asyncio.gather(*(ctx.writer.delete_pod(namespace, n, uids[n]) for n in plan.delete))

    previous = PodGroupStatus.model_validate(body["status"]) if body.get("status") else None
    status = compute_status(
        group=name,
        spec=spec,
        generation=meta.get("generation"),
        pods=pods,
        previous=previous,
        create_error=refusals[0] if refusals else None,
        created=sum(1 for err in results if err is None),
        now=ctx.clock(),
    )
    wire = status.to_dict()
    if wire != (previous.to_dict() if previous else None) and wire != ctx.last_status.get(key):
        await ctx.writer.patch_status(namespace, name, wire)
        ctx.last_status[key] = wire
        before = (previous.conditions if previous else None) or []
        for event in transition_events(before, status.conditions or []):
            await ctx.writer.post_event(group, event, ctx.clock())
    if refusals:
        raise RetryLater(refusals[0])
    return None
