"""The member reconcile against a fake writer: members created before the status that counts
them, events after it; run again on the same observation (the watch has not shown the new pods
yet), it creates none of them twice."""

from __future__ import annotations

import asyncio
from typing import Any

from podgroup_operator.core.observed import observe_group
from podgroup_operator.handlers.reconcile import reconcile
from tests.unit.handler_fakes import FakeWriter, context

KEY = ("ns", "train")


def group() -> Any:
    template = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
    spec = {
        "roles": [
            {"name": "leader", "replicas": 1, "template": template},
            {"name": "worker", "replicas": 2, "template": template},
        ]
    }
    return observe_group(
        {"metadata": {"namespace": "ns", "name": "train", "uid": "uid-train", "generation": 1}, "spec": spec}
    )


def test_members_are_created_once_even_when_the_watch_is_behind() -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.groups[KEY] = [group()]  # type: ignore[index]
    ctx.member_pods[KEY] = []  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    created = [name for verb, name, _ in writer.writes if verb == "create_pod"]
    assert created == ["train-leader-0", "train-worker-0", "train-worker-1"]
    statuses = [s for verb, _, s in writer.writes if verb == "patch_status"]
    assert len(statuses) == 1 and statuses[0]["phase"] == "Pending"
    # Members are created before the status that counts them, and announced after it.
    verbs = [verb for verb, _, _ in writer.writes]
    assert max(i for i, v in enumerate(verbs) if v == "create_pod") < verbs.index("patch_status")
    assert all(i > verbs.index("patch_status") for i, v in enumerate(verbs) if v == "post_event")

    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))
    assert [w for w in writer.writes if w[0] in ("create_pod", "delete_pod")] == []
