"""core.failures: failures read from member pods as the API server returns them, each with a stable
identity, acted on once thanks to the pod's handled-failures annotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from podgroup_operator.core.failures import Failure, detect_failures
from podgroup_operator.core.labels import HANDLED_FAILURES_ANNOTATION
from podgroup_operator.core.observed import observe_pod
from tests.builders import PodBuilder

Body = dict[str, Any]
UID = "7d0e5c1a-93b4-4a7e-8d1f-2f6c0b9e4a10"
T0 = "2025-01-02T03:04:05Z"
DISRUPTION = ("DisruptionTarget", "True")


def terminated(code: int, reason: str, finished: str | None = T0) -> Body:
    t: Body = {"exitCode": code, "reason": reason, "startedAt": "2025-01-02T03:00:00Z"}
    if finished is not None:
        t["finishedAt"] = finished
    return {"terminated": t}


def status_of(
    name: str = "main",
    *,
    restarts: int = 0,
    state: Body | None = None,
    last: Body | None = None,
) -> Body:
    return {
        "name": name,
        "image": "docker.io/library/busybox:1.36",
        "imageID": "docker.io/library/busybox@sha256:" + "a" * 64,
        "restartCount": restarts,
        "ready": state is None,
        "started": state is None,
        "state": state if state is not None else {"running": {"startedAt": T0}},
        "lastState": last or {},
    }


def pod(
    *statuses: Body,
    phase: str = "Running",
    reason: str | None = None,
    conditions: list[tuple[str, str]] = (),  # type: ignore[assignment]
    handled: dict[str, int] | None = None,
    restart_policy: str = "Always",
    deleting: bool = False,
) -> Body:
    statuses = statuses or (status_of(),)
    pod = (
        PodBuilder("train-worker-0")
        .uid(UID)
        .member("train", "worker", 0)
        .annotation("podgroup.dev/template-hash", "0123456789abcdef")
        .deleting(deleting)
        .node("node-a")
        .spec(restartPolicy=restart_policy)
        .phase(phase)
        .status(
            conditions=[
                {"type": "PodScheduled", "status": "True"},
                *({"type": t, "status": s, "reason": "x"} for t, s in conditions),
            ],
            containerStatuses=list(statuses),
        )
    )
    for s in statuses:
        pod.container(s["name"], "busybox:1.36")
    if handled is not None:
        pod.annotation(HANDLED_FAILURES_ANNOTATION, json.dumps(handled))
    if reason is not None:
        pod.status(reason=reason)
    return pod.obj()


def detect(
    body: Body, *, node_lost: bool = False, watched: set[tuple[str, str]] | None = None
) -> list[Failure]:
    return detect_failures(observe_pod(body), node_lost=node_lost, watched_conditions=watched or set())


def summary(failures: list[Failure]) -> list[tuple[str, int, str, str | None, int | None]]:
    return [(f.key, f.count, f.reason, f.container, f.exit_code) for f in failures]


CASES: list[tuple[str, Body, list[tuple[str, int, str, str | None, int | None]]]] = [
    ("healthy", pod(), []),
    (
        "restarted after exit 42",
        pod(status_of(restarts=2, last=terminated(42, "Error"))),
        [("c/main", 2, "Error", "main", 42)],
    ),
    (
        "crash looping (waiting) after exit 42",
        pod(
            status_of(
                restarts=3, state={"waiting": {"reason": "CrashLoopBackOff"}}, last=terminated(42, "Error")
            )
        ),
        # The failed run is the one counted 3; the failure is the 4th run's start, as when the
        # kubelet reports it terminated (count 3 + 1) or running again (count 4).
        [("c/main", 4, "Error", "main", 42)],
    ),
    (
        # The kubelet counts the stop of a RestartAllContainers at once: nothing new while the
        # container waits to start again.
        "waiting after a RestartAllContainers stop, handled",
        pod(
            status_of(
                restarts=2,
                state={"waiting": {"reason": "RestartingAllContainers"}},
                last=terminated(137, "RestartingAllContainers"),
            ),
            handled={"c/main": 2},
        ),
        [],
    ),
    (
        "already handled at the restart count",
        pod(status_of(restarts=2, last=terminated(42, "Error")), handled={"c/main": 2}),
        [],
    ),
    (
        "handled above the restart count (the operator's own restart)",
        pod(status_of(restarts=2, last=terminated(137, "Error")), handled={"c/main": 3}),
        [],
    ),
    (
        "handled below the restart count: a newer failure",
        pod(status_of(restarts=3, last=terminated(42, "Error")), handled={"c/main": 2}),
        [("c/main", 3, "Error", "main", 42)],
    ),
    (
        "handled for another container only",
        pod(status_of(restarts=1, last=terminated(42, "Error")), handled={"c/other": 5, "node": 1}),
        [("c/main", 1, "Error", "main", 42)],
    ),
    (
        "exit 0 Completed, restarted (restartPolicy Always)",
        pod(status_of(restarts=4, last=terminated(0, "Completed"))),
        [],
    ),
    (
        "exit 0 Completed, still terminated",
        pod(
            status_of(restarts=0, state=terminated(0, "Completed")), phase="Succeeded", restart_policy="Never"
        ),
        [],
    ),
    (
        "OOMKilled with exit 137",
        pod(status_of(restarts=1, last=terminated(137, "OOMKilled"))),
        [("c/main", 1, "OOMKilled", "main", 137)],
    ),
    (
        "OOMKilled with exit 0 still counts",
        pod(status_of(restarts=1, last=terminated(0, "OOMKilled"))),
        [("c/main", 1, "OOMKilled", "main", 0)],
    ),
    (
        "StartError with exit 128",
        pod(status_of(restarts=1, last=terminated(128, "StartError"))),
        [("c/main", 1, "StartError", "main", 128)],
    ),
    (
        "ContainerCannotRun with exit 0",
        pod(status_of(restarts=0, state=terminated(0, "ContainerCannotRun")), restart_policy="Never"),
        [("c/main", 1, "ContainerCannotRun", "main", 0)],
    ),
    (
        "no reason reads as Error",
        pod(status_of(restarts=1, last=terminated(3, ""))),
        [("c/main", 1, "Error", "main", 3)],
    ),
    (
        "still terminated, restartPolicy Never: restartCount + 1",
        pod(status_of(restarts=0, state=terminated(1, "Error")), phase="Failed", restart_policy="Never"),
        [("c/main", 1, "Error", "main", 1)],
    ),
    (
        "still terminated before the kubelet restarts it: restartCount + 1",
        pod(status_of(restarts=2, state=terminated(42, "Error"), last=terminated(42, "Error"))),
        [("c/main", 3, "Error", "main", 42)],
    ),
    (
        "still terminated and already handled",
        pod(
            status_of(restarts=0, state=terminated(1, "Error")),
            phase="Failed",
            restart_policy="Never",
            handled={"c/main": 1},
        ),
        [],
    ),
    (
        "finished with exit 0 after an earlier failure (restartPolicy OnFailure)",
        pod(
            status_of(restarts=1, state=terminated(0, "Completed"), last=terminated(7, "Error")),
            phase="Succeeded",
            restart_policy="OnFailure",
        ),
        [("c/main", 1, "Error", "main", 7)],
    ),
    (
        "pod Failed Evicted, no container failure",
        pod(status_of(restarts=0, state=terminated(0, "Completed")), phase="Failed", reason="Evicted"),
        [("pod/Evicted", 1, "Evicted", None, None)],
    ),
    (
        "pod Failed Evicted, no container status at all",
        {**pod(phase="Failed", reason="Evicted"), "status": {"phase": "Failed", "reason": "Evicted"}},
        [("pod/Evicted", 1, "Evicted", None, None)],
    ),
    (
        "pod Failed Evicted, already handled",
        pod(phase="Failed", reason="Evicted", handled={"pod/Evicted": 1}),
        [],
    ),
    (
        "pod Failed DeadlineExceeded",
        pod(phase="Failed", reason="DeadlineExceeded"),
        [("pod/DeadlineExceeded", 1, "DeadlineExceeded", None, None)],
    ),
    (
        "pod Failed OutOfmemory at admission",
        pod(phase="Failed", reason="OutOfmemory"),
        [("pod/OutOfmemory", 1, "OutOfmemory", None, None)],
    ),
    ("pod Failed for a reason that is not a member failure", pod(phase="Failed", reason="NodeAffinity"), []),
    ("pod reason on a pod that has not failed", pod(phase="Running", reason="Evicted"), []),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_detect_failures(body: Body, expected: list[tuple[str, int, str, str | None, int | None]]) -> None:
    assert summary(detect(body)) == expected


@pytest.mark.parametrize(
    ("body", "node_lost", "expected"),
    [
        pytest.param(pod(), True, [("node", 1, "NodeLost", None, None)], id="active pod on a lost node"),
        pytest.param(pod(phase="Pending"), True, [("node", 1, "NodeLost", None, None)], id="pending pod"),
        pytest.param(pod(), False, [], id="node is fine"),
        pytest.param(pod(handled={"node": 1}), True, [], id="already handled"),
        pytest.param(pod(phase="Succeeded"), True, [], id="finished pod"),
        pytest.param(pod(phase="Failed"), True, [], id="failed pod"),
        pytest.param(pod(deleting=True), True, [], id="deleting pod"),
    ],
)
def test_node_lost(body: Body, node_lost: bool, expected: list[tuple[str, int, str, None, None]]) -> None:
    assert summary(detect(body, node_lost=node_lost)) == expected


@pytest.mark.parametrize(
    ("conditions", "watched", "expected"),
    [
        pytest.param([DISRUPTION], {DISRUPTION}, ["cond/DisruptionTarget"], id="watched"),
        pytest.param([DISRUPTION], set(), [], id="not watched"),
        pytest.param([DISRUPTION], {("DisruptionTarget", "False")}, [], id="other status watched"),
        pytest.param([("DisruptionTarget", "False")], {DISRUPTION}, [], id="pod has other status"),
        pytest.param([], {DISRUPTION}, [], id="pod lacks the condition"),
        pytest.param(
            [DISRUPTION, ("example.com/Broken", "True")],
            {DISRUPTION, ("example.com/Broken", "True"), ("Other", "True")},
            ["cond/DisruptionTarget", "cond/example.com/Broken"],
            id="several, in the pod's order",
        ),
        pytest.param([], {("PodScheduled", "True")}, ["cond/PodScheduled"], id="any type"),
    ],
)
def test_watched_conditions_only(
    conditions: list[tuple[str, str]], watched: set[tuple[str, str]], expected: list[str]
) -> None:
    found = detect(pod(conditions=conditions), watched=watched)
    assert [f.key for f in found] == expected
    assert all(f.count == 1 and f.reason == f.key.removeprefix("cond/") for f in found)
    assert all(f.container is None and f.exit_code is None and f.time is None for f in found)


def test_a_handled_condition_is_not_reported_again() -> None:
    body = pod(conditions=[DISRUPTION], handled={"cond/DisruptionTarget": 1})
    assert detect(body, watched={DISRUPTION}) == []


def test_failures_carry_the_pod_and_its_conditions() -> None:
    body = pod(
        status_of(restarts=2, last=terminated(42, "Error", "2025-01-02T03:04:05Z")), conditions=[DISRUPTION]
    )
    [f] = detect(body)
    assert f == Failure(
        pod="train-worker-0",
        pod_uid=UID,
        key="c/main",
        count=2,
        reason="Error",
        container="main",
        exit_code=42,
        conditions=(("PodScheduled", "True"), DISRUPTION),
        time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert f.time is not None and f.time.tzinfo is not None


@pytest.mark.parametrize(
    ("key", "count", "identity"),
    [
        ("c/main", 2, f"{UID}/c/main/2"),
        ("pod/Evicted", 1, f"{UID}/pod/Evicted/1"),
        ("node", 1, f"{UID}/node/1"),
        ("cond/DisruptionTarget", 1, f"{UID}/cond/DisruptionTarget/1"),
    ],
)
def test_identity(key: str, count: int, identity: str) -> None:
    assert Failure("p", UID, key, count, "Error").identity == identity


def test_identity_is_stable_across_observations() -> None:
    body = pod(status_of(restarts=2, last=terminated(42, "Error")))
    assert detect(body)[0].identity == detect(body)[0].identity == f"{UID}/c/main/2"
    # The kubelet restarting it again after the same exit code is a new failure with a new identity.
    again = pod(status_of(restarts=3, last=terminated(42, "Error")))
    assert detect(again)[0].identity == f"{UID}/c/main/3"


def test_oldest_first_unknown_times_last() -> None:
    body = pod(
        status_of("main", restarts=1, last=terminated(1, "Error", "2025-01-02T03:10:00Z")),
        status_of("no-time", restarts=1, last=terminated(2, "Error", None)),
        status_of("side", restarts=1, last=terminated(3, "Error", "2025-01-02T03:05:00Z")),
        status_of("offset", restarts=1, last=terminated(4, "Error", "2025-01-02T05:07:00+02:00")),
        conditions=[DISRUPTION],
    )
    found = detect(body, node_lost=True, watched={DISRUPTION})
    # 03:05 < 03:07 (05:07+02:00) < 03:10; then the failures without a time, in detection order.
    assert [f.key for f in found] == [
        "c/side",
        "c/offset",
        "c/main",
        "c/no-time",
        "node",
        "cond/DisruptionTarget",
    ]


def test_several_containers_each_count_on_their_own() -> None:
    body = pod(
        status_of("trainer", restarts=3, last=terminated(134, "Error", "2025-01-02T03:06:00Z")),
        status_of("sidecar", restarts=1, last=terminated(137, "OOMKilled", "2025-01-02T03:05:00Z")),
        status_of("healthy", restarts=0),
        handled={"c/trainer": 2, "c/sidecar": 1},
    )
    assert summary(detect(body)) == [("c/trainer", 3, "Error", "trainer", 134)]


def test_a_pod_being_deleted_has_no_failures() -> None:
    body = pod(
        status_of(restarts=0, state=terminated(137, "Error")),
        phase="Failed",
        reason="Evicted",
        conditions=[DISRUPTION],
        deleting=True,
    )
    assert detect(body, node_lost=True, watched={DISRUPTION}) == []


def test_a_container_status_missing_from_the_spec_is_ignored() -> None:
    body = pod(status_of(restarts=0))
    body["status"]["containerStatuses"].append(status_of("ghost", restarts=1, last=terminated(1, "Error")))
    assert detect(body) == []


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '"c/main"', "{}", ""],
)
def test_an_unreadable_handled_annotation_reads_as_nothing_handled(raw: str) -> None:
    body = pod(status_of(restarts=1, last=terminated(42, "Error")))
    body["metadata"]["annotations"][HANDLED_FAILURES_ANNOTATION] = raw
    assert summary(detect(body)) == [("c/main", 1, "Error", "main", 42)]


@pytest.mark.parametrize("raw", ['{"c/main": "x"}', '{"c/main": null}', '{"c/main": [1]}'])
def test_a_handled_annotation_with_bad_values_does_not_crash(raw: str) -> None:
    body = pod(status_of(restarts=1, last=terminated(42, "Error")))
    body["metadata"]["annotations"][HANDLED_FAILURES_ANNOTATION] = raw
    assert [f.key for f in detect(body)] == ["c/main"]
