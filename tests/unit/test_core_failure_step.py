"""core.failure_step: from the observed status and pods to one failure step. The earliest failure
is the one acted on, a recorded failure is completed and not counted again, a backoff waits, a
failed group only stops its members, and the record merges with this process's own write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.failure_step import plan_failures, with_own_record
from podgroup_operator.core.observed import ObservedPod
from tests.builders import PodBuilder

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def spec(**policy: Any) -> PodGroupSpec:
    template = {"spec": {"containers": [{"name": "main", "image": "registry.local/tools:1.0"}]}}
    rules = [{"action": "RestartPodInPlace", "onExitCodes": {"operator": "In", "values": [3]}}]
    return PodGroupSpec.model_validate(
        {
            "roles": [{"name": "w", "replicas": 2, "template": template}],
            "failurePolicy": {"rules": rules, **policy},
        }
    )


def crashed(name: str, finished: datetime, code: int = 3) -> ObservedPod:
    """A member whose container ended with `code` at `finished`, now back in the kubelet's start."""
    at = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    state = {"terminated": {"exitCode": code, "reason": "Error", "startedAt": at, "finishedAt": at}}
    container = {
        "name": "main",
        "image": "registry.local/tools:1.0",
        "imageID": "registry.local/tools@sha256:" + "a" * 64,
        "restartCount": 0,
        "ready": False,
        "state": state,
        "lastState": {},
    }
    return (
        PodBuilder(name)
        .member("g", "w", int(name[-1]))
        .node("real-0")
        .container()
        .spec(restartPolicy="Always")
        .phase("Running")
        .status(containerStatuses=[container])
        .observed()
    )


def test_the_earliest_failure_is_recorded_announced_and_acted_on() -> None:
    pods = [crashed("g-w-1", NOW - timedelta(seconds=5)), crashed("g-w-0", NOW - timedelta(seconds=9))]
    step = plan_failures(spec(), None, pods, set(), set(), NOW)
    assert step.act is not None and step.act.failure.pod == "g-w-0"
    assert step.act.action == Action.RESTART_POD_IN_PLACE
    assert step.act.record.restarts == 1 and step.status == step.act.record
    assert step.act.record_patch is not None and step.act.record_patch["lastFailure"]["pod"] == "g-w-0"
    assert step.act.event is not None and (step.act.event.type, step.act.event.reason) == (
        "Warning",
        "RestartPodInPlace",
    )


def test_a_recorded_failure_is_completed_not_counted_again() -> None:
    pods = [crashed("g-w-0", NOW - timedelta(seconds=9))]
    first = plan_failures(spec(), None, pods, set(), set(), NOW)
    assert first.act is not None
    again = plan_failures(spec(), first.act.record, pods, set(), set(), NOW + timedelta(seconds=1))
    assert again.act is not None and again.act.action == first.act.action
    assert again.act.record_patch is None and again.act.event is None
    assert again.act.record.restarts == 1


def test_a_backoff_waits_and_writes_nothing() -> None:
    pods = [crashed("g-w-0", NOW - timedelta(seconds=1))]
    earlier = PodGroupStatus.model_validate(
        {"restarts": 1, "actions": [{"action": "RestartPodInPlace", "time": "2026-01-02T03:04:04Z"}]}
    )
    step = plan_failures(
        spec(backoff={"initialSeconds": 30, "maxSeconds": 60}), earlier, pods, set(), set(), NOW
    )
    assert step.act is None and step.waiting is not None and "backing off" in step.waiting
    assert step.requeue is not None and 0 < step.requeue <= 60
    assert step.status == earlier


def test_a_failed_group_only_stops_its_members() -> None:
    last = {
        "pod": "g-w-0",
        "action": "FailGroup",
        "reason": "Error",
        "time": "2026-01-02T03:00:00Z",
        "key": "k",
    }
    failed = PodGroupStatus.model_validate({"phase": "Failed", "lastFailure": last})
    step = plan_failures(spec(), failed, [crashed("g-w-0", NOW)], set(), set(), NOW)
    assert step.stop_members and step.act is None
    [stop] = step.writes.patches
    assert (stop.name, stop.patch["spec"]) == ("g-w-0", {"activeDeadlineSeconds": 1})
    assert step.stopping == {stop.uid}
    # Given its deadline by this process and not yet seen stopped: not written again.
    again = plan_failures(spec(), failed, [crashed("g-w-0", NOW)], set(), step.stopping, NOW)
    assert again.writes.patches == () and again.stopping == step.stopping


def test_no_failure_converges() -> None:
    pod = PodBuilder("g-w-0").member("g", "w", 0).node("real-0").container().phase("Running").observed()
    step = plan_failures(spec(), None, [pod], set(), set(), NOW)
    assert (step.stop_members, step.act, step.waiting) == (False, None, None)


def test_a_member_on_a_lost_node_is_a_failure() -> None:
    pod = PodBuilder("g-w-0").member("g", "w", 0).node("gone").container().phase("Running").observed()
    step = plan_failures(spec(), None, [pod], {"gone"}, set(), NOW)
    assert step.act is not None and step.act.failure.reason == "NodeLost"


def test_the_own_record_is_carried_until_the_watch_shows_it() -> None:
    pods = [crashed("g-w-0", NOW - timedelta(seconds=9))]
    act = plan_failures(spec(), None, pods, set(), set(), NOW).act
    assert act is not None
    observed = PodGroupStatus.model_validate({"phase": "Running"})
    merged, caught_up = with_own_record(observed, act.record)
    assert not caught_up and merged is not None
    assert merged.phase == "Running" and merged.last_failure == act.record.last_failure
    assert with_own_record(None, act.record) == (act.record, False)
    assert with_own_record(act.record, act.record) == (act.record, True)
    assert with_own_record(observed, None) == (observed, False)
