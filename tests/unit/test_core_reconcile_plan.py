"""plan_reconcile: one snapshot in, one plan out, with no writer in sight."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import FailureRecord, PodGroupSpec, PodGroupStatus
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.failure_step import FailureAct, FailureStep
from podgroup_operator.core.failures import Failure
from podgroup_operator.core.reconcile_plan import (
    EarlierSteps,
    Remembered,
    Settings,
    Snapshot,
    plan_reconcile,
)
from podgroup_operator.core.resize.plan import Decision, PodResize, ResourcePatch
from podgroup_operator.core.resize.step import ResizeStep
from podgroup_operator.core.writes import PodDelete, PodWrites
from tests.builders import PodBuilder

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TEMPLATE = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
SETTINGS = Settings(max_creates=2, cluster_domain="cluster.local", native_restart=True)
NOTHING_REMEMBERED = Remembered(created={}, waiting=None, last_status=None)


def snapshot(replicas: int, status: PodGroupStatus | None = None) -> Snapshot:
    roles = [{"name": "worker", "replicas": replicas, "template": TEMPLATE}]
    spec = PodGroupSpec.model_validate({"roles": roles})
    return Snapshot("ns", "train", "uid-train", 1, spec, status, (), {}, NOW)


def test_missing_members_are_created_a_batch_at_a_time_and_the_rest_come_at_once() -> None:
    plan = plan_reconcile(snapshot(3), NOTHING_REMEMBERED, EarlierSteps(), SETTINGS)
    assert [c.member for c in plan.creates] == ["train-worker-0", "train-worker-1"]
    assert plan.deletes == () and plan.patches == ()
    assert plan.requeue == 0.0


def test_members_remembered_as_created_are_not_planned_again() -> None:
    remembered = Remembered(created={"train-worker-0": NOW}, waiting=None, last_status=None)
    plan = plan_reconcile(snapshot(1), remembered, EarlierSteps(), SETTINGS)
    assert plan.creates == ()
    assert plan.pending == {"train-worker-0": NOW}


def test_members_created_earlier_that_the_index_does_not_show_yet_count_as_created() -> None:
    remembered = Remembered(created={"train-worker-0": NOW}, waiting=None, last_status=None)
    write = plan_reconcile(snapshot(2), remembered, EarlierSteps(), SETTINGS).status_after(1, None)
    assert write.patch is not None
    created = next(c for c in write.patch["conditions"] if c["type"] == "PodsCreated")
    assert (created["status"], created["message"]) == ("True", "2/2 member pods exist")


def test_a_failed_group_plans_no_pod_writes() -> None:
    record = FailureRecord(pod="train-worker-0", reason="Error", key="k", action=Action.FAIL_GROUP, time=NOW)
    failed = PodGroupStatus(last_failure=record)
    plan = plan_reconcile(snapshot(2, failed), NOTHING_REMEMBERED, EarlierSteps(), SETTINGS)
    assert (plan.creates, plan.deletes, plan.patches) == ((), (), ())


def resizing(pod: str = "train-worker-0") -> EarlierSteps:
    grow = PodResize(pod, Decision.RESIZE, {"main": ResourcePatch({"cpu": Decimal(2)})}, message="cpu 1 -> 2")
    return EarlierSteps(resize=ResizeStep(decisions=(grow,), recommendations=(), usage=None, last=None))


def test_a_refusal_is_the_status_message_and_the_status_written_comes_before_resize_events() -> None:
    plan = plan_reconcile(snapshot(1), NOTHING_REMEMBERED, resizing(), SETTINGS)
    assert plan.earlier.resize is not None
    assert [pod for pod, _ in plan.earlier.resize.sends] == ["train-worker-0"]
    refused = {"train-worker-0": None}
    write = plan.status_after(0, "pod train-worker-0: quota exceeded", resize_refused=refused)
    assert write.patch is not None
    assert any("quota exceeded" in (c.get("message") or "") for c in write.patch["conditions"])
    assert write.events[-1] == Event("Normal", "ResizeApplied", "pod train-worker-0: cpu 1 -> 2")
    assert write.patch["resize"]["lastResize"]["result"] == "Applied"


def test_a_resize_the_api_server_refuses_is_recorded_as_an_error_with_its_message() -> None:
    plan = plan_reconcile(snapshot(1), NOTHING_REMEMBERED, resizing(), SETTINGS)
    write = plan.status_after(1, None, resize_refused={"train-worker-0": "pods/resize is forbidden"})
    assert write.events[-1] == Event("Warning", "ResizeError", "pod train-worker-0: pods/resize is forbidden")
    assert write.patch is not None and write.patch["resize"]["lastResize"]["result"] == "Error"
    assert write.resize_results == ("Error",)


def test_a_status_already_written_is_not_written_again_but_resize_events_still_go_out() -> None:
    first = plan_reconcile(snapshot(1), NOTHING_REMEMBERED, resizing(), SETTINGS).status_after(
        1, None, resize_refused={"train-worker-0": None}
    )
    remembered = Remembered(created={}, waiting=None, last_status=first.patch)
    again = plan_reconcile(snapshot(1), remembered, resizing(), SETTINGS)
    write = again.status_after(1, None, resize_refused={"train-worker-0": None})
    assert write.patch is None
    assert write.events == (Event("Normal", "ResizeApplied", "pod train-worker-0: cpu 1 -> 2"),)


def test_a_failure_action_is_recorded_first_and_its_writes_are_in_the_plan_once() -> None:
    """A RecreatePod decided now: the plan records it (the patch, the event, what it counts), its
    delete is among the plan's deletes, and a scale-down of the same member is not sent again."""
    record = FailureRecord(
        pod="train-worker-1", reason="Error", key="k", action=Action.RECREATE_POD, time=NOW
    )
    decided = PodGroupStatus(restarts=1, last_failure=record)
    failure = Failure(pod="train-worker-1", pod_uid="uid-1", key="k", count=1, reason="Error")
    act = FailureAct(
        failure, Action.RECREATE_POD, decided, {"restarts": 1}, Event("Warning", "RecreatePod", "why")
    )
    step = FailureStep(decided, act=act, writes=PodWrites(deletes=(PodDelete("train-worker-1", "uid-1"),)))
    member = PodBuilder("train-worker-1", "ns").member("train", "worker", 1).uid("uid-1").owner("uid-train")
    s = replace(snapshot(1, decided), pods=(member.observed(),))
    plan = plan_reconcile(s, NOTHING_REMEMBERED, EarlierSteps(failure=step), SETTINGS)
    assert plan.record is not None and plan.record.patch == {"restarts": 1}
    assert plan.record.counted == ("RecreatePod", "Error") and plan.record.failure == decided
    assert [e.reason for e in plan.record.events] == ["RecreatePod"]
    assert plan.deletes == (PodDelete("train-worker-1", "uid-1"),)
