"""One reconcile's plan carried out against a fake writer: creates, deletes and size patches
before the status, the status once, events after it; run again, it writes nothing new."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from podgroup_operator.core.observed import ObservedPod, observe_group, observe_pod
from podgroup_operator.handlers.reconcile import reconcile
from tests.builders import NodeBuilder
from tests.unit.handler_fakes import FakeWriter, context

KEY = ("ns", "train")
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}


def group(workers: int, evaluators: int, status: dict[str, Any] | None = None) -> Any:
    roles = [{"name": "worker", "replicas": workers, "template": TEMPLATE}]
    if evaluators:
        roles.append({"name": "eval", "replicas": evaluators, "template": TEMPLATE})
    meta = {"namespace": "ns", "name": "train", "uid": "uid-train", "generation": 1}
    body = {"metadata": meta, "spec": {"roles": roles}, **({"status": status} if status else {})}
    return observe_group(body)


def as_observed(body: dict[str, Any]) -> ObservedPod:
    """A created pod as the watch shows it: with its uid, running on a node."""
    pod = copy.deepcopy(body)
    pod["metadata"]["uid"] = f"uid-{pod['metadata']['name']}"
    pod["spec"]["nodeName"] = "node-a"
    pod["status"] = {"phase": "Running"}
    return observe_pod(pod)


def applied(pods: list[ObservedPod], writes: list[tuple[str, str, Any]]) -> list[ObservedPod]:
    """The pods once the watch has delivered these writes."""
    by_name = {p.name: p.body for p in pods}
    for verb, name, payload in writes:
        if verb == "create_pod":  # as the watch first shows it: gated, not scheduled
            by_name[name] = {**payload, "metadata": {**payload["metadata"], "uid": f"uid-{name}"}}
        elif verb == "delete_pod":
            by_name.pop(name)
        elif verb == "patch_pod":
            body = copy.deepcopy(by_name[name])
            body["metadata"].setdefault("annotations", {}).update(payload["metadata"]["annotations"])
            by_name[name] = body
    return [observe_pod(b) for b in by_name.values()]


def scaled_group() -> tuple[FakeWriter, Any, list[ObservedPod]]:
    """Two workers running; the spec now asks for one worker and one evaluator."""
    writer = FakeWriter()
    ctx = context(writer)
    ctx.nodes["node-a"] = [NodeBuilder("node-a").observed()]  # type: ignore[index]
    ctx.groups[KEY] = [group(workers=2, evaluators=0)]  # type: ignore[index]
    ctx.member_pods[KEY] = []  # type: ignore[index]
    asyncio.run(reconcile(ctx, KEY))
    running = [as_observed(body) for verb, _, body in writer.writes if verb == "create_pod"]
    writer.writes.clear()
    ctx.groups[KEY] = [group(workers=1, evaluators=1)]  # type: ignore[index]
    ctx.member_pods[KEY] = running  # type: ignore[index]
    return writer, ctx, running


def test_the_plan_is_executed_in_order() -> None:
    writer, ctx, _ = scaled_group()
    asyncio.run(reconcile(ctx, KEY))

    verbs = [verb for verb, _, _ in writer.writes]
    assert [(v, n) for v, n, _ in writer.writes if v != "post_event"] == [
        ("create_pod", "train-eval-0"),
        ("delete_pod", "train-worker-1"),
        ("patch_pod", "train-worker-0"),  # the member that stays carries the new sizes
        ("patch_status", "train"),
    ]
    assert verbs.count("patch_status") == 1
    assert all(i > verbs.index("patch_status") for i, v in enumerate(verbs) if v == "post_event")


def test_run_twice_on_the_same_observation_nothing_is_created_or_announced_again() -> None:
    writer, ctx, _ = scaled_group()
    asyncio.run(reconcile(ctx, KEY))
    first = list(writer.writes)
    writer.writes.clear()

    asyncio.run(reconcile(ctx, KEY))  # the watch has shown none of the writes yet
    # The delete and the patch are repeated (both conditional on the pod's uid, so they change
    # nothing); the create and the events are not. The status may be written again: it counts
    # the pods this reconcile created and the ones observed, not the ones between the two.
    assert {v for v, _, _ in writer.writes} <= {"delete_pod", "patch_pod", "patch_status"}
    assert all(w in first for w in writer.writes if w[0] != "patch_status")


def test_run_twice_once_the_watch_caught_up_writes_nothing() -> None:
    writer, ctx, running = scaled_group()
    asyncio.run(reconcile(ctx, KEY))
    status = next(s for v, _, s in writer.writes if v == "patch_status")
    ctx.member_pods[KEY] = applied(running, writer.writes)  # type: ignore[index]
    ctx.groups[KEY] = [group(workers=1, evaluators=1, status=status)]  # type: ignore[index]
    writer.writes.clear()

    asyncio.run(reconcile(ctx, KEY))
    assert writer.writes == []
