"""The failure handling as the reconcile runs it, against a fake writer: the decision is
recorded before its action, announced once, and a second reconcile on the same observation
(the watch has not shown the record yet) completes the action without deciding again."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import PodGroupStatus
from podgroup_operator.core.failure_actions import APPLIERS
from podgroup_operator.core.observed import observe_group, observe_pod
from podgroup_operator.core.placement import NodeInfo
from podgroup_operator.core.restart import to_recreate
from podgroup_operator.core.timestamps import parse_timestamp
from podgroup_operator.handlers.reconcile import reconcile
from tests.unit.handler_fakes import FakeWriter, context

KEY = ("ns", "train")
UID = "uid-train"
T0 = "2026-01-02T03:04:00Z"


def group(action: str) -> Any:
    spec = {
        "roles": [
            {"name": "worker", "replicas": 2, "template": {"spec": {"containers": [{"name": "main"}]}}}
        ],
        "failurePolicy": {"defaultAction": action, "backoff": {"initialSeconds": 0, "maxSeconds": 0}},
    }
    return observe_group(
        {"metadata": {"namespace": "ns", "name": "train", "uid": UID, "generation": 1}, "spec": spec}
    )


def member(index: int, *, exit_code: int = 0) -> Any:
    """A running member on a node that is gone when `exit_code` is set (a failure), else Ready."""
    name = f"train-worker-{index}"
    last = {"terminated": {"exitCode": exit_code, "reason": "Error", "finishedAt": T0}} if exit_code else {}
    return observe_pod(
        {
            "metadata": {
                "name": name,
                "uid": f"uid-{name}",
                "labels": {
                    "podgroup.dev/name": "train",
                    "podgroup.dev/role": "worker",
                    "podgroup.dev/index": str(index),
                },
                "ownerReferences": [{"controller": True, "uid": UID}],
            },
            "spec": {
                "nodeName": "gone" if exit_code else "",
                "containers": [{"name": "main", "image": "busybox"}],
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "main",
                        "restartCount": 1 if exit_code else 0,
                        "state": {"running": {}},
                        "lastState": last,
                    }
                ],
            },
        }
    )


def is_record(write: tuple[str, str, Any]) -> bool:
    """The failure record, written on its own before the action (the full status comes last)."""
    verb, _, status = write
    return verb == "patch_status" and "lastFailure" in status and "phase" not in status


def test_every_action_has_an_applier() -> None:
    assert set(APPLIERS) == set(Action)


@pytest.mark.parametrize("action", ["RecreatePod", "RecreateGroup", "FailGroup"])
def test_a_failure_is_recorded_then_acted_on_and_a_second_run_does_not_decide_again(action: str) -> None:
    writer = FakeWriter()
    ctx = context(writer)
    ctx.groups[KEY] = [group(action)]  # type: ignore[index]
    ctx.member_pods[KEY] = [member(0, exit_code=1), member(1)]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    first = list(writer.writes)
    records = [i for i, w in enumerate(first) if is_record(w)]
    announced = [i for i, (verb, _, e) in enumerate(first) if verb == "post_event" and e.reason == action]
    acted = [i for i, (verb, _, _) in enumerate(first) if verb in ("delete_pod", "patch_pod")]
    assert len(records) == 1 and first[records[0]][2]["lastFailure"]["action"] == action
    assert len(announced) == 1 and acted
    assert records[0] < announced[0] < acted[0]  # recorded, announced, then acted on

    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))  # the same observation: the watch has not caught up
    second = list(writer.writes)
    assert not [w for w in second if is_record(w)]
    assert not [w for w in second if w[0] == "post_event" and w[2].reason == action]
    # Completing the recorded action repeats some of its writes (each safe to repeat; a failed
    # group is terminal and writes none), never a write the first run did not make.
    assert all(w in [first[i] for i in acted] for w in second if w[0] in ("delete_pod", "patch_pod"))


def test_a_fail_group_interrupted_before_every_member_was_stopped_is_finished_from_the_record() -> None:
    """The operator died after writing the FailGroup record and stopping worker-0 only: a new
    process (nothing in memory) stops worker-1 from the record alone, and stops nobody twice."""
    writer = FakeWriter()
    ctx = context(writer)
    record = {"pod": "train-worker-0", "reason": "Error", "key": "k", "action": "FailGroup", "time": T0}
    failed = replace(group("FailGroup"), status=PodGroupStatus.model_validate({"lastFailure": record}))
    ctx.groups[KEY] = [failed]  # type: ignore[index]
    stopped = replace(member(0, exit_code=1), active_deadline_seconds=1)
    ctx.member_pods[KEY] = [stopped, member(1)]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    patched = [(name, patch["spec"]) for verb, name, patch in writer.writes if verb == "patch_pod"]
    assert patched == [("train-worker-1", {"activeDeadlineSeconds": 1})]
    assert not writer.verbs("delete_pod") and not writer.verbs("create_pod")

    writer.writes.clear()
    asyncio.run(reconcile(ctx, KEY))  # the watch has not shown worker-1's deadline yet
    assert not writer.verbs("patch_pod")


def test_a_recreate_group_interrupted_after_the_failing_member_is_finished_from_the_record() -> None:
    """The operator died after writing the RecreateGroup record and deleting worker-0 only: a
    new process deletes worker-1 (created before the decision) from the record alone; the
    members created after the decision carry its key and are left alone."""
    writer = FakeWriter()
    ctx = context(writer)
    decided = "2026-01-02T03:05:00Z"
    record = {"pod": "train-worker-0", "reason": "Error", "key": "k1", "action": "RecreateGroup"}
    status = PodGroupStatus.model_validate({"lastFailure": {**record, "time": decided}})
    recreating = replace(group("RecreateGroup"), status=status)
    ctx.groups[KEY] = [recreating]  # type: ignore[index]
    old = replace(member(1), created=parse_timestamp(T0))
    ctx.member_pods[KEY] = [old]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    assert [name for _, name, _ in writer.verbs("delete_pod")] == ["train-worker-1"]
    [(_, name, body)] = writer.verbs("create_pod")
    assert name == "train-worker-0"
    assert body["metadata"]["annotations"]["podgroup.dev/recreated-for"] == "k1"

    # Once recreated, nothing more is deleted: the new members carry the decision's key.
    writer.writes.clear()
    renewed = [replace(member(i), created=parse_timestamp(decided), recreated_for="k1") for i in (0, 1)]
    ctx.member_pods[KEY] = renewed  # type: ignore[index]
    asyncio.run(reconcile(ctx, KEY))
    assert not writer.verbs("delete_pod")


def test_recreate_leaves_members_created_after_the_decision_even_without_its_key() -> None:
    """A member a release without the annotation created after the decision is not recreated."""
    record = PodGroupStatus.model_validate(
        {"lastFailure": {"pod": "p", "reason": "Error", "key": "k1", "action": "RecreateGroup", "time": T0}}
    ).last_failure
    before = replace(member(0), created=parse_timestamp("2026-01-02T03:03:59Z"))
    after = replace(member(1), created=parse_timestamp("2026-01-02T03:04:01Z"))
    assert to_recreate([before, after], record) == [before]
    assert to_recreate([before], replace_action(record, "RecreatePod")) == []


def replace_action(record: Any, action: str) -> Any:
    return record.model_copy(update={"action": action})


def restarts(writer: FakeWriter) -> list[tuple[str, str, Any]]:
    """The in-place restarts written: pod patches that switch images."""
    return [w for w in writer.verbs("patch_pod") if "spec" in w[2]]


def in_place_member(index: int, *, restarts: int, state: dict[str, Any], last: dict[str, Any]) -> Any:
    """A member on a live node with its main container in the given state."""
    body = {
        "metadata": {
            "name": f"train-worker-{index}",
            "uid": f"uid-{index}",
            "labels": {
                "podgroup.dev/name": "train",
                "podgroup.dev/role": "worker",
                "podgroup.dev/index": str(index),
            },
            "ownerReferences": [{"controller": True, "uid": UID}],
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "busybox"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "main",
                    "image": "busybox",
                    "imageID": "sha256:" + "ab" * 32,
                    "restartCount": restarts,
                    "state": state,
                    "lastState": last,
                }
            ],
        },
    }
    return observe_pod(body)


def test_a_group_restart_leaves_a_member_that_just_ended_to_the_kubelet_first() -> None:
    """worker-0 exits 134 (seen terminated, a second ago): the kubelet is starting it again with
    its old image. Switching now could stop it a second time, and that stop would read as a new
    failure; so worker-1 restarts now and worker-0 once the kubelet has started it, by one switch."""
    writer = FakeWriter()
    ctx = context(writer)
    ctx.nodes["n1"] = NodeInfo("n1", {}, {}, (), False)  # type: ignore[index]
    ctx.groups[KEY] = [group("RestartGroupInPlace")]  # type: ignore[index]
    ended = {"terminated": {"exitCode": 134, "reason": "Error", "finishedAt": "2026-01-02T03:04:04Z"}}
    running = {"running": {"startedAt": T0}}
    healthy = in_place_member(1, restarts=0, state=running, last={})
    ctx.member_pods[KEY] = [in_place_member(0, restarts=0, state=ended, last={}), healthy]  # type: ignore[index]

    asyncio.run(reconcile(ctx, KEY))
    [record] = [w for w in writer.writes if is_record(w)]
    assert record[2]["restartGeneration"] == 1 and record[2]["restarts"] == 1
    assert [name for _, name, _ in restarts(writer)] == ["train-worker-1"]

    # The kubelet has started worker-0 again (old image, restart 1): now it is switched, and its
    # handled count covers the switch's own restart (2). The failure is not decided again.
    writer.writes.clear()
    restarted = in_place_member(0, restarts=1, state=running, last=ended)
    patched_1 = replace(healthy, restart_generation=1)
    ctx.member_pods[KEY] = [restarted, patched_1]  # type: ignore[index]
    asyncio.run(reconcile(ctx, KEY))
    assert not [w for w in writer.writes if is_record(w)]
    [(_, name, patch)] = restarts(writer)
    assert name == "train-worker-0"
    assert patch["metadata"]["annotations"]["podgroup.dev/handled-failures"] == '{"c/main":2}'
    assert patch["metadata"]["annotations"]["podgroup.dev/restart-generation"] == "1"
