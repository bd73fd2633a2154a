"""The group's headless Service: created once per group, then only looked at again when a
Service of that name is deleted (handlers/triggers.py), so a reconcile costs no Service write."""

from __future__ import annotations

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.network import headless_service
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.memory import ServiceCheck
from podgroup_operator.k8s.adapter import GroupRef


async def reconcile_service(ctx: OperatorContext, group: GroupRef, spec: PodGroupSpec) -> str | None:
    """Why the group's Service is not its own, or None (it is, or the group brings its own)."""
    if not spec.network.headless_service:
        return None
    memory = ctx.memory.of((group.namespace, group.name), group.uid)
    if memory.service is not None:
        return memory.service.problem
    problem = await ctx.writer.ensure_service(
        group.namespace, headless_service(group.name, group.uid, group.namespace), group.uid
    )
    memory.service = ServiceCheck(problem)
    return problem
