"""A resize as the reconcile runs it, against a fake writer: the resize is sent, the status
that records it written, and only then the event that announces it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from podgroup_operator.core.observed import observe_group
from podgroup_operator.core.resize.usage import UsageSample
from podgroup_operator.handlers.reconcile import reconcile
from tests.builders import NodeBuilder, PodBuilder
from tests.unit.handler_fakes import NOW, FakeWriter, context

KEY = ("ns", "train")
UID = "uid-train"
REQUESTS = {"cpu": "100m", "memory": "64Mi"}


class Usage:
    """The member's CPU far above its request: the fast path grows it at once."""

    async def samples(self, namespace: str, group: str) -> list[UsageSample]:
        return [UsageSample("train-worker-0", "main", NOW - timedelta(seconds=5), 2.0, 32e6, 10.0)]


def group() -> Any:
    template = {"spec": {"containers": [{"name": "main", "resources": {"requests": REQUESTS}}]}}
    spec = {"roles": [{"name": "worker", "replicas": 1, "template": template}], "resize": {"mode": "Auto"}}
    return observe_group(
        {"metadata": {"namespace": "ns", "name": "train", "uid": UID, "generation": 1}, "spec": spec}
    )


def test_a_resize_is_recorded_in_status_before_it_is_announced() -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.usage = Usage()
    member = (
        PodBuilder("train-worker-0")
        .member("train", "worker", 0)
        .owner(UID)
        .phase("Running")
        .ready()
        .node("n1")
        .container("main", resources={"requests": REQUESTS})
        .observed()
    )
    ctx.groups[KEY] = [group()]  # type: ignore[index]
    ctx.member_pods[KEY] = [member]  # type: ignore[index]
    ctx.nodes["n1"] = [NodeBuilder("n1").allocatable(cpu="8", memory="16Gi", pods="110").observed()]  # type: ignore[index]
    ctx.node_pods["n1"] = [{"cpu": Decimal("0.1"), "memory": Decimal(64 * 2**20), "pods": Decimal(1)}]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))

    verbs = [verb for verb, _, _ in writer.writes]
    resized = verbs.index("resize_pod")
    recorded = next(i for i, (v, _, s) in enumerate(writer.writes) if v == "patch_status" and "resize" in s)
    announced = next(
        i for i, (v, _, e) in enumerate(writer.writes) if v == "post_event" and e.reason.startswith("Resize")
    )
    assert resized < recorded < announced
    assert writer.writes[recorded][2]["resize"]["lastResize"]["pod"] == "train-worker-0"
