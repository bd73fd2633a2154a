"""A new group's reconcile asks the gang admitter (its real pass, on its own task) to place the
gang before creating it: a gang that fits is created released and holds its room for the next
one; one that does not is created gated and says why; a refused create holds no room."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from podgroup_operator.config import Config
from podgroup_operator.core.observed import ObservedPod, observe_group, observe_pod
from podgroup_operator.handlers.admission import GangAdmitter
from podgroup_operator.handlers.context import OperatorContext
from podgroup_operator.handlers.reconcile import reconcile
from podgroup_operator.runtime.workqueue import RetryLater
from tests.builders import NodeBuilder
from tests.unit.handler_fakes import FakeWriter, context

TEMPLATE = {
    "spec": {
        "containers": [
            {"name": "main", "image": "registry.local/tools:1.0", "resources": {"requests": {"cpu": "2"}}}
        ]
    }
}


def group(name: str, cpu: str = "2") -> Any:
    meta = {"namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": 1}
    container = {**TEMPLATE["spec"]["containers"][0], "resources": {"requests": {"cpu": cpu}}}
    template = {"spec": {"containers": [container]}}
    return observe_group(
        {"metadata": meta, "spec": {"roles": [{"name": "w", "replicas": 2, "template": template}]}}
    )


class RefusingWriter(FakeWriter):
    async def create_pod(self, namespace: str, body: dict[str, Any]) -> str | None:
        await super().create_pod(namespace, body)
        return "exceeded quota" if body["metadata"]["name"].endswith("-1") else None


def reconcile_new_groups(
    writer: FakeWriter, *names: str, cpu: dict[str, str] | None = None
) -> OperatorContext:
    """Each group new, reconciled in turn. With `cpu` (per member, by group), the index shows
    each group's created pods before the next group comes, and the admitter runs a pass."""
    ctx = context(writer)
    ctx.nodes["node-1"] = [NodeBuilder("node-1").allocatable(cpu="4", memory="8Gi", pods="10").observed()]  # type: ignore[index]

    async def scenario() -> None:
        admitter = GangAdmitter(ctx, Config(admission_debounce_seconds=0.0))
        ctx.placer = admitter
        admitter.start()
        try:
            for name in names:
                key = ("ns", name)
                ctx.groups[key] = [group(name, (cpu or {}).get(name, "2"))]  # type: ignore[index]
                ctx.member_pods[key] = []  # type: ignore[index]
                with contextlib.suppress(RetryLater):  # a refused create: retried by the queue
                    await reconcile(ctx, key)
                if cpu:
                    ctx.member_pods[key] = created(writer, name)  # type: ignore[index]
                    await admitter.admit_once()
        finally:
            await admitter.stop()

    asyncio.run(scenario())
    return ctx


def created(writer: FakeWriter, group_name: str) -> list[ObservedPod]:
    return [
        observe_pod(body) for _, name, body in writer.verbs("create_pod") if name.startswith(f"{group_name}-")
    ]


def test_a_gang_that_fits_is_created_released_and_the_next_waits_at_the_gate() -> None:
    writer = FakeWriter()
    ctx = reconcile_new_groups(writer, "first", "second")
    first, second = created(writer, "first"), created(writer, "second")
    assert [p.name for p in first] == ["first-w-0", "first-w-1"]
    assert all(not p.gang_gated and p.planned_node == "node-1" and p.admitted_at for p in first)
    assert all(p.constraints.node_selector.get("kubernetes.io/hostname") == "node-1" for p in first)
    assert writer.verbs("release_member") == [], "nothing to release: created released"
    first_memory = ctx.memory.known(("ns", "first"))
    assert first_memory is not None and set(first_memory.placed) == {"first-w-0", "first-w-1"}
    # The first gang's room is held while the index does not show its pods: the second, which
    # would fit on an empty node, is created gated and its status says why it waits.
    assert len(second) == 2 and all(p.gang_gated for p in second)
    second_memory = ctx.memory.known(("ns", "second"))
    assert second_memory is not None and not second_memory.placed and second_memory.waiting


def test_a_refused_create_holds_no_room() -> None:
    writer = RefusingWriter()
    ctx = reconcile_new_groups(writer, "first")
    memory = ctx.memory.known(("ns", "first"))
    assert memory is not None and set(memory.placed) == {"first-w-0"}
    assert all(not p.gang_gated for p in created(writer, "first"))
    status = writer.verbs("patch_status")[-1][2]
    assert "exceeded quota" in str(status), "the refusal is the status message"


def test_behind_a_waiting_gang_a_new_one_is_created_gated_and_released_by_a_pass() -> None:
    writer = FakeWriter()
    reconcile_new_groups(writer, "huge", "small", cpu={"huge": "40", "small": "1"})
    assert all(p.gang_gated for p in created(writer, "huge")), "40 CPU never fits"
    assert all(p.gang_gated for p in created(writer, "small")), "not placed while a gang waits"
    assert sorted(name for _, name, _ in writer.verbs("release_member")) == ["small-w-0", "small-w-1"]
