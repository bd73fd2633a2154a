"""The gang rollback as the reconcile plans and executes it, against a fake writer: a released
member still unbound after the schedule timeout gets the rollback recorded in status first,
alone, and announced, then every member deleted (they come back gated); no other status is
written and nothing is created in the same reconcile."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from podgroup_operator.core.labels import ADMITTED_AT_ANNOTATION, PLANNED_NODE_ANNOTATION
from podgroup_operator.core.observed import observe_group
from podgroup_operator.handlers.reconcile import reconcile
from tests.builders import NodeBuilder, PodBuilder
from tests.unit.handler_fakes import NOW, FakeWriter, context

KEY = ("ml", "train")
UID = "uid-train"


def group() -> Any:
    template = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
    spec = {
        "roles": [{"name": "worker", "replicas": 2, "template": template}],
        "gang": {"scheduleTimeoutSeconds": 30},
    }
    return observe_group(
        {"metadata": {"namespace": "ml", "name": "train", "uid": UID, "generation": 1}, "spec": spec}
    )


def released(index: int, seconds_ago: int, node: str | None = None) -> Any:
    admitted = (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        PodBuilder(f"train-worker-{index}", "ml")
        .member("train", "worker", index)
        .owner(UID)
        .container()
        .annotation(ADMITTED_AT_ANNOTATION, admitted)
        .annotation(PLANNED_NODE_ANNOTATION, "n1")
        .node(node)
        .observed()
    )


def test_a_timed_out_release_is_recorded_then_rolled_back_then_announced() -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.config = replace(ctx.config, gang_backoff_base_seconds=20)
    ctx.nodes["n1"] = [NodeBuilder("n1").observed()]  # type: ignore[index]
    ctx.groups[KEY] = [group()]  # type: ignore[index]
    ctx.member_pods[KEY] = [released(0, 31, node="n1"), released(1, 31)]  # type: ignore[index]

    delay = asyncio.run(reconcile(ctx, KEY))
    verbs = [verb for verb, _, _ in writer.writes]
    assert verbs == ["patch_status", "post_event", "delete_pod", "delete_pod"]
    [(_, _, record)] = writer.verbs("patch_status")
    assert set(record) == {"gang"} and record["gang"]["rollbacks"] == 1
    assert sorted(name for _, name, _ in writer.verbs("delete_pod")) == ["train-worker-0", "train-worker-1"]
    [(_, _, event)] = writer.verbs("post_event")
    assert event.reason == "ScheduleTimeout" and "train-worker-1" in event.message
    assert delay == 20


def test_a_release_within_its_timeout_is_not_rolled_back() -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.nodes["n1"] = [NodeBuilder("n1").observed()]  # type: ignore[index]
    ctx.groups[KEY] = [group()]  # type: ignore[index]
    ctx.member_pods[KEY] = [released(0, 29, node="n1"), released(1, 29)]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    assert not writer.verbs("delete_pod")
    assert [status.get("gang", {}).get("rollbacks", 0) for _, _, status in writer.verbs("patch_status")] == [
        0
    ]
