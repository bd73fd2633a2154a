"""A PodGroup deleted and created again under the same name is a new group: nothing the
operator remembered about the old one (here, a FailGroup decided but not yet seen back
through the watch) may reach the new one."""

from __future__ import annotations

import asyncio
from typing import Any

from podgroup_operator.core.observed import observe_group, observe_pod
from podgroup_operator.handlers.reconcile import reconcile
from podgroup_operator.handlers.triggers import podgroup_changed
from tests.unit.handler_fakes import FakeWriter, context, memo

KEY = ("ns", "train")
T0 = "2026-01-02T03:04:00Z"
SPEC = {
    "roles": [{"name": "worker", "replicas": 1, "template": {"spec": {"containers": [{"name": "main"}]}}}],
    "failurePolicy": {"defaultAction": "FailGroup"},
}


def group(uid: str) -> Any:
    return observe_group(
        {
            "metadata": {"namespace": "ns", "name": "train", "uid": uid, "generation": 1},
            "spec": SPEC,
        }
    )


def failed_member(group_uid: str) -> Any:
    """worker-0, its container exited 1 on a node that is gone."""
    return observe_pod(
        {
            "metadata": {
                "name": "train-worker-0",
                "uid": "pod-1",
                "labels": {
                    "podgroup.dev/name": "train",
                    "podgroup.dev/role": "worker",
                    "podgroup.dev/index": "0",
                },
                "ownerReferences": [{"controller": True, "uid": group_uid}],
            },
            "spec": {"nodeName": "gone", "containers": [{"name": "main", "image": "busybox"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "main",
                        "restartCount": 1,
                        "state": {"running": {}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": T0}},
                    }
                ],
            },
        }
    )


def test_a_group_created_again_under_the_same_name_does_not_inherit_the_old_fail_group() -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.groups[KEY] = [group("uid-old")]  # type: ignore[index]
    ctx.member_pods[KEY] = [failed_member("uid-old")]  # type: ignore[index]
    asyncio.run(reconcile(ctx, KEY))
    fail_group = [s for _, _, s in writer.verbs("patch_status") if "lastFailure" in s]
    assert fail_group and fail_group[0]["lastFailure"]["action"] == "FailGroup"

    # Deleted before the watch showed that record, then created again: a new uid, no status.
    asyncio.run(podgroup_changed(namespace="ns", name="train", type="DELETED", memo=memo(ctx)))
    ctx.groups[KEY] = [group("uid-new")]  # type: ignore[index]
    ctx.member_pods[KEY] = []  # type: ignore[index]
    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))

    assert [name for _, name, _ in writer.verbs("create_pod")] == ["train-worker-0"]
    statuses = [s for _, _, s in writer.verbs("patch_status")]
    assert statuses and all(s.get("phase") != "Failed" and "lastFailure" not in s for s in statuses)
