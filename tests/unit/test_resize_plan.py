"""core.resize.plan: which members get which in-place resize, and why the others do not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.api.resize import ResizeMode, ResizePolicy, ResizeResult
from podgroup_operator.core.labels import RESIZED_AT_ANNOTATION
from podgroup_operator.core.observed import observe_pod
from podgroup_operator.core.resize.patch import resize_patch
from podgroup_operator.core.resize.plan import (
    POD_LEVEL_UNSUPPORTED_MESSAGE,
    Decision,
    PlanSettings,
    PodResize,
    PodResizeState,
    ResourcePatch,
    plan_role,
    pod_level_mode,
    pod_resize_state,
)
from podgroup_operator.core.resize.pod_resources import ContainerResources, qos_class
from podgroup_operator.core.resize.recommender import ContainerTarget, Recommendation
from podgroup_operator.core.resize.units import CPU, MEMORY

D = Decimal
MI, GI = 2**20, 2**30
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
AUTO = PlanSettings()
BIG_NODE = {CPU: D(64), MEMORY: D(256 * GI)}


def pod(
    name: str = "g-w-0",
    cpu: str = "1",
    memory: int = GI,
    limits: dict[str, Decimal] | None = None,
    node_available: dict[str, Decimal] | None = None,
    **fields: Any,
) -> PodResizeState:
    requests = {CPU: D(cpu), MEMORY: D(memory)}
    main = ContainerResources("main", requests, limits or {})
    return PodResizeState(
        name=name,
        node=fields.pop("node", "n-0"),
        running=fields.pop("running", True),
        containers=(main,),
        requests={**requests, "pods": D(1)},
        node_available=BIG_NODE if node_available is None else node_available,
        **fields,
    )


def rec(cpu: str | None = None, memory: int | None = None, oom: bool = False, **more: Any) -> Recommendation:
    target: dict[str, Decimal] = {}
    if cpu is not None:
        target[CPU] = D(cpu)
    if memory is not None:
        target[MEMORY] = D(memory)
    return Recommendation({"main": ContainerTarget(target, oom=oom, **more)})


def one(
    p: PodResizeState, r: Recommendation, settings: PlanSettings = AUTO, now: datetime = NOW
) -> PodResize:
    (decision,) = plan_role([p], r, settings, now)
    return decision


# --- minimum change ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target_cpu", "decision"),
    [
        ("1.09", Decision.BELOW_MIN_CHANGE),
        ("0.91", Decision.BELOW_MIN_CHANGE),
        ("1", Decision.BELOW_MIN_CHANGE),
        ("1.1", Decision.RESIZE),  # exactly 10%
        ("0.5", Decision.RESIZE),
        ("3", Decision.RESIZE),
    ],
)
def test_min_change(target_cpu: str, decision: Decision) -> None:
    assert one(pod(), rec(cpu=target_cpu)).decision == decision


def test_only_resources_that_move_enough_are_patched() -> None:
    d = one(pod(), rec(cpu="2", memory=GI + 50 * MI))  # memory +5%: left alone
    assert d.apply and d.containers == {"main": ResourcePatch({CPU: D(2)}, {})}
    assert resize_patch(d) == {
        "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "2"}}}]}
    }


def test_min_change_zero_applies_any_difference() -> None:
    settings = replace(AUTO, min_change=D(0))
    assert one(pod(), rec(cpu="1.001"), settings).decision == Decision.RESIZE
    assert one(pod(), rec(cpu="1"), settings).decision == Decision.BELOW_MIN_CHANGE


# --- cooldown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ago", "decision"),
    [(30, Decision.COOLDOWN), (59, Decision.COOLDOWN), (60, Decision.RESIZE), (3600, Decision.RESIZE)],
)
def test_cooldown(ago: int, decision: Decision) -> None:
    p = pod(last_resize=NOW - timedelta(seconds=ago))
    assert one(p, rec(cpu="2")).decision == decision


def test_memory_growth_after_an_oom_kill_skips_cooldown_and_min_change() -> None:
    p = pod(last_resize=NOW - timedelta(seconds=5))
    d = one(p, rec(memory=GI + 20 * MI, oom=True))  # +2%, just resized
    assert d.decision == Decision.RESIZE and d.containers["main"].requests == {MEMORY: D(GI + 20 * MI)}
    assert "OOM" in d.message
    # Shrinking is never urgent.
    assert one(p, rec(memory=GI // 2, oom=True)).decision == Decision.COOLDOWN


# --- modes -------------------------------------------------------------------------------------


def test_recommend_mode_changes_nothing() -> None:
    d = one(pod(), rec(cpu="2", memory=2 * GI), PlanSettings(mode=ResizeMode.RECOMMEND))
    assert d.decision == Decision.RECOMMEND_ONLY and not d.apply and d.result is None
    assert d.containers["main"].requests == {CPU: D(2), MEMORY: D(2 * GI)}  # what it would do
    assert d.message == "would set main: cpu=2, memory=2Gi"


def test_off_mode_decides_nothing() -> None:
    assert plan_role([pod()], rec(cpu="2"), PlanSettings(mode=ResizeMode.OFF), NOW) == []


def test_settings_from_policy() -> None:
    p = ResizePolicy.model_validate(
        {"mode": "Auto", "minChangePercent": 25, "cooldownSeconds": 5, "uniform": False}
    )
    s = PlanSettings.from_policy(p, pod_level_resize_supported=True)
    assert s == PlanSettings(ResizeMode.AUTO, D("0.25"), timedelta(seconds=5), False, True)


# --- members that are not resized --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "decision"),
    [
        ({"running": False}, Decision.NOT_RUNNING),
        ({"node": None}, Decision.NOT_RUNNING),
        ({"qos_class": "BestEffort"}, Decision.BEST_EFFORT),
        ({"in_progress": True}, Decision.IN_PROGRESS),
    ],
)
def test_members_left_alone(fields: dict[str, Any], decision: Decision) -> None:
    d = one(pod(**fields), rec(cpu="2"))
    assert d.decision == decision and not d.apply


def test_no_recommendation() -> None:
    assert one(pod(), Recommendation()).decision == Decision.NO_RECOMMENDATION
    assert (
        one(pod(), Recommendation({"other": ContainerTarget({CPU: D(2)})})).decision
        == Decision.NO_RECOMMENDATION
    )


def test_resources_that_would_restart_the_container_are_left_alone() -> None:
    p = pod()
    main = replace(p.containers[0], restart_on_resize=frozenset({MEMORY}))
    d = one(replace(p, containers=(main,)), rec(cpu="2", memory=4 * GI))
    assert d.containers["main"].requests == {CPU: D(2)}


def test_resources_without_a_request_are_not_added() -> None:
    p = pod()
    main = ContainerResources("main", {CPU: D(1)}, {})
    d = one(replace(p, containers=(main,)), rec(cpu="2", memory=4 * GI))
    assert d.containers["main"].requests == {CPU: D(2)}


# --- pending, infeasible, errors ---------------------------------------------------------------


def test_infeasible_is_reported_and_not_retried_with_the_same_target() -> None:
    # The pending (infeasible) spec already asks for 8 cores; the recommendation is unchanged.
    p = pod(cpu="8", pending="Infeasible", message="Node didn't have enough capacity: cpu")
    d = one(p, rec(cpu="8"))
    assert d.decision == Decision.INFEASIBLE and not d.apply
    assert d.result == ResizeResult.INFEASIBLE and "capacity" in d.message


def test_infeasible_target_is_capped_at_what_the_node_can_give() -> None:
    # 8 cores were asked and are pending as Infeasible (1 is allocated); the node can give 3.
    allocated = {CPU: D(1), MEMORY: D(GI)}
    main = ContainerResources("main", {CPU: D(8), MEMORY: D(GI)}, {}, allocated=allocated)
    p = replace(
        pod(cpu="8", pending="Infeasible", node_available={CPU: D(3), MEMORY: D(8 * GI)}), containers=(main,)
    )
    d = one(p, rec(cpu="8"))
    assert d.decision == Decision.RESIZE and d.capped and d.result == ResizeResult.CAPPED
    assert d.containers["main"].requests == {CPU: D(3)}
    # Next time round, with the capped spec in place, the same cap gives the same target: if the
    # kubelet still finds it infeasible, that is reported and nothing more is sent.
    main = replace(main, requests={CPU: D(3), MEMORY: D(GI)})
    again = one(replace(p, containers=(main,), requests={CPU: D(3), MEMORY: D(GI)}), rec(cpu="8"))
    assert again.decision == Decision.INFEASIBLE and not again.apply and again.capped


def test_a_smaller_target_replaces_a_pending_one() -> None:
    p = pod(cpu="4", pending="Deferred")
    assert one(p, rec(cpu="4")).decision == Decision.DEFERRED
    d = one(p, rec(cpu="2"))
    assert d.decision == Decision.RESIZE and d.containers["main"].requests == {CPU: D(2)}


def test_error_is_reported_and_a_different_target_is_tried() -> None:
    p = pod(memory=GI // 2, error="attempting to set pod memory limit below current usage")
    d = one(p, rec(memory=GI // 2))
    assert d.decision == Decision.ERROR and d.result == ResizeResult.ERROR and "below" in d.message
    assert one(p, rec(memory=GI)).decision == Decision.RESIZE


# --- node capacity (gang awareness) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("available_cpu", "target", "expected", "capped"),
    [
        ("16", "3", "3", False),  # fits
        ("3", "3", "3", False),  # exactly fits: available includes the pod's own 1 core
        ("2.5", "3", "2.5", True),  # grows only as far as the node allows
        ("1", "3", None, True),  # no room at all: stays
        ("0.5", "3", None, True),  # overcommitted already: never grows
        ("0.5", "0.5", "0.5", False),  # shrinking always fits
    ],
)
def test_growth_is_capped_by_the_node(
    available_cpu: str, target: str, expected: str | None, capped: bool
) -> None:
    d = one(pod(node_available={CPU: D(available_cpu), MEMORY: D(64 * GI)}), rec(cpu=target))
    if expected is None:
        assert d.decision == Decision.NO_ROOM and not d.apply and d.capped
    else:
        assert d.decision == Decision.RESIZE and d.containers["main"].requests == {CPU: D(expected)}
        assert d.capped is capped


def test_unknown_node_room_allows_shrinking_only() -> None:
    p = replace(pod(), node_available=None)
    assert one(p, rec(cpu="4")).decision == Decision.NO_ROOM
    assert one(p, rec(cpu="0.5")).decision == Decision.RESIZE


def test_growth_of_several_containers_is_scaled_down_together() -> None:
    a = ContainerResources("a", {CPU: D(1)}, {})
    b = ContainerResources("b", {CPU: D(1)}, {})
    c = ContainerResources("c", {CPU: D(2)}, {})  # shrinks: its room goes to the others
    p = PodResizeState("g-w-0", "n-0", True, (a, b, c), {CPU: D(4)}, {CPU: D(5)})
    r = Recommendation(
        {
            "a": ContainerTarget({CPU: D(3)}),
            "b": ContainerTarget({CPU: D(2)}),
            "c": ContainerTarget({CPU: D(1)}),
        }
    )
    d = one(p, r)
    # Growth wanted: 2 + 1 = 3; room: 1 free + 1 given back by c = 2: two thirds of each growth.
    assert {n: x.requests[CPU] for n, x in d.containers.items()} == {
        "a": D("2.333"),
        "b": D("1.666"),
        "c": D(1),
    }
    assert sum(x.requests[CPU] for x in d.containers.values()) <= D(5)


def test_memory_caps_round_down_to_whole_mib() -> None:
    p = pod(node_available={CPU: D(8), MEMORY: D(GI + 200 * MI + 12345)})
    d = one(p, rec(memory=4 * GI))
    assert d.containers["main"].requests == {MEMORY: D(GI + 200 * MI)}


def test_uniform_members_move_together_capped_by_the_tightest_node() -> None:
    pods = [
        pod("g-w-0", node="n-0", node_available={CPU: D(16), MEMORY: D(64 * GI)}),
        pod("g-w-1", node="n-1", node_available={CPU: D("2.5"), MEMORY: D(64 * GI)}),  # tightest
        pod("g-w-2", node="n-2", node_available={CPU: D(8), MEMORY: D(64 * GI)}),
    ]
    decisions = plan_role(pods, rec(cpu="4", memory=2 * GI), AUTO, NOW)
    assert [d.decision for d in decisions] == [Decision.RESIZE] * 3
    assert {d.containers["main"].requests[CPU] for d in decisions} == {D("2.5")}
    assert {d.containers["main"].requests[MEMORY] for d in decisions} == {D(2 * GI)}
    assert all(d.capped for d in decisions)


def test_uniform_role_does_not_grow_when_one_node_is_full() -> None:
    pods = [
        pod("g-w-0", node_available=BIG_NODE),
        pod("g-w-1", node_available={CPU: D(1), MEMORY: D(64 * GI)}),
    ]
    decisions = plan_role(pods, rec(cpu="4"), AUTO, NOW)
    assert [d.decision for d in decisions] == [Decision.NO_ROOM, Decision.NO_ROOM]


def test_uniform_ignores_members_that_are_not_running() -> None:
    pods = [pod("g-w-0"), pod("g-w-1", running=False, node_available={CPU: D(0), MEMORY: D(0)})]
    decisions = plan_role(pods, rec(cpu="4"), AUTO, NOW)
    assert [d.decision for d in decisions] == [Decision.RESIZE, Decision.NOT_RUNNING]


def test_non_uniform_members_get_their_own_targets() -> None:
    pods = [pod("g-w-0"), pod("g-w-1", node_available={CPU: D("1.5"), MEMORY: D(64 * GI)})]
    recs = {"g-w-0": rec(cpu="4"), "g-w-1": rec(cpu="4")}
    decisions = plan_role(pods, recs, replace(AUTO, uniform=False), NOW)
    assert [d.containers["main"].requests[CPU] for d in decisions] == [D(4), D("1.5")]
    assert plan_role([pod("g-w-9")], recs, AUTO, NOW)[0].decision == Decision.NO_RECOMMENDATION


# --- limits and QoS ----------------------------------------------------------------------------


def test_guaranteed_stays_guaranteed() -> None:
    limits = {CPU: D(1), MEMORY: D(GI)}
    d = one(pod(limits=limits, qos_class="Guaranteed"), rec(cpu="2", memory=3 * GI))
    patch = d.containers["main"]
    assert patch.requests == patch.limits == {CPU: D(2), MEMORY: D(3 * GI)}
    assert resize_patch(d)["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "3Gi"},
        "limits": {"cpu": "2", "memory": "3Gi"},
    }


def test_guaranteed_stays_guaranteed_when_capped_by_the_node() -> None:
    limits = {CPU: D(1), MEMORY: D(GI)}
    p = pod(limits=limits, qos_class="Guaranteed", node_available={CPU: D("1.5"), MEMORY: D(64 * GI)})
    patch = one(p, rec(cpu="4")).containers["main"]
    assert patch.requests == patch.limits == {CPU: D("1.5")}


def test_burstable_keeps_its_limit_ratio() -> None:
    d = one(pod(limits={CPU: D(2), MEMORY: D(2 * GI)}), rec(cpu="2", memory=GI // 2))
    assert d.containers["main"].limits == {CPU: D(4), MEMORY: D(GI)}


# --- pod-level resources -----------------------------------------------------------------------


def _pod_level(supported: bool) -> tuple[PodResizeState, PlanSettings]:
    p = pod()
    level = ContainerResources("", {CPU: D(2), MEMORY: D(2 * GI)}, {CPU: D(2), MEMORY: D(2 * GI)})
    p = replace(p, pod_resources=level, requests={CPU: D(2), MEMORY: D(2 * GI)})
    return p, replace(AUTO, pod_level_resize_supported=supported)


def test_pod_level_resources_are_only_recommended_without_support() -> None:
    p, settings = _pod_level(supported=False)
    r = Recommendation({}, ContainerTarget({CPU: D(4), MEMORY: D(4 * GI)}))
    d = one(p, r, settings)
    assert d.decision == Decision.POD_LEVEL_UNSUPPORTED and not d.apply
    assert d.message.startswith(POD_LEVEL_UNSUPPORTED_MESSAGE) and "pod: cpu=4, memory=4Gi" in d.message


def test_pod_level_resources_are_resized_with_support() -> None:
    p, settings = _pod_level(supported=True)
    r = Recommendation({}, ContainerTarget({CPU: D(4), MEMORY: D(4 * GI)}))
    d = one(p, r, settings)
    assert d.decision == Decision.RESIZE
    assert resize_patch(d) == {
        "spec": {
            "resources": {"requests": {"cpu": "4", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "4Gi"}}
        }
    }


@pytest.mark.parametrize(
    ("uses", "supported", "mode", "expected", "why"),
    [
        (True, False, ResizeMode.AUTO, ResizeMode.RECOMMEND, True),
        (True, True, ResizeMode.AUTO, ResizeMode.AUTO, False),
        (False, False, ResizeMode.AUTO, ResizeMode.AUTO, False),
        (True, False, ResizeMode.RECOMMEND, ResizeMode.RECOMMEND, False),
        (True, False, ResizeMode.OFF, ResizeMode.OFF, False),
    ],
)
def test_pod_level_mode(
    uses: bool, supported: bool, mode: ResizeMode, expected: ResizeMode, why: bool
) -> None:
    got, reason = pod_level_mode(uses, supported, mode)
    assert got == expected and (reason is not None) is why


# --- reading pods ------------------------------------------------------------------------------


def _body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "g-w-0", "annotations": {RESIZED_AT_ANNOTATION: "2025-01-01T11:59:00Z"}},
        "spec": {
            "nodeName": "n-0",
            "containers": [
                {
                    "name": "main",
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                    "resizePolicy": [{"resourceName": "memory", "restartPolicy": "RestartContainer"}],
                },
                {"name": "side", "resources": {"limits": {"cpu": "1", "memory": "128Mi"}}},
            ],
        },
        "status": {"phase": "Running", **status},
    }


def test_pod_resize_state_reads_the_pod() -> None:
    s = pod_resize_state(observe_pod(_body()), {CPU: D(4)})
    assert (s.name, s.node, s.running, s.qos_class) == ("g-w-0", "n-0", True, "Burstable")
    main, side = s.containers
    assert main.requests == {CPU: D("0.5"), MEMORY: D(GI)} and main.limits == {MEMORY: D(2 * GI)}
    assert main.restart_on_resize == {MEMORY}
    assert side.requests == side.limits == {CPU: D(1), MEMORY: D(128 * MI)}  # requests default to limits
    assert s.requests[CPU] == D("1.5") and s.node_available == {CPU: D(4)}
    assert s.last_resize == datetime(2025, 1, 1, 11, 59, tzinfo=UTC)
    assert (s.pending, s.in_progress, s.error, s.pod_resources) == (None, False, None, None)
    assert main.allocated == {}  # no container status yet: the spec stands


def test_pod_resize_state_reads_allocated_resources() -> None:
    statuses = [
        {"name": "main", "allocatedResources": {"cpu": "250m", "memory": "1Gi"}},
        {"name": "side", "resources": {"requests": {"cpu": "1"}}},
    ]
    main, side = pod_resize_state(observe_pod(_body(containerStatuses=statuses)), None).containers
    assert main.allocated == {CPU: D("0.25"), MEMORY: D(GI)}
    assert side.allocated == {CPU: D(1)}


@pytest.mark.parametrize(
    ("conditions", "pending", "in_progress", "error"),
    [
        ([{"type": "PodResizePending", "status": "True", "reason": "Deferred"}], "Deferred", False, None),
        ([{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}], "Infeasible", False, None),
        ([{"type": "PodResizeInProgress", "status": "True"}], None, True, None),
        (
            [{"type": "PodResizeInProgress", "status": "True", "reason": "Error", "message": "boom"}],
            None,
            False,
            "boom",
        ),
        ([{"type": "PodResizePending", "status": "False", "reason": "Deferred"}], None, False, None),
    ],
)
def test_pod_resize_state_reads_resize_conditions(
    conditions: list[dict[str, str]], pending: str | None, in_progress: bool, error: str | None
) -> None:
    s = pod_resize_state(observe_pod(_body(conditions=conditions)), None)
    assert (s.pending, s.in_progress, s.error) == (pending, in_progress, error)


GUARANTEED = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
BURSTABLE = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


@pytest.mark.parametrize(
    ("containers", "pod_resources", "expected"),
    [
        ([{"name": "a"}], None, "BestEffort"),
        ([{"name": "a", "resources": {"requests": {"cpu": "1"}}}], None, "Burstable"),
        ([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}], None, "Guaranteed"),
        ([{"name": "a", "resources": GUARANTEED}], None, "Guaranteed"),
        ([{"name": "a", "resources": BURSTABLE}], None, "Burstable"),
        ([{"name": "a", "resources": GUARANTEED}, {"name": "b"}], None, "Burstable"),
        ([{"name": "a"}], GUARANTEED, "Guaranteed"),
        ([{"name": "a"}], BURSTABLE, "Burstable"),
    ],
)
def test_qos_class(
    containers: list[dict[str, Any]], pod_resources: dict[str, Any] | None, expected: str
) -> None:
    spec: dict[str, Any] = {"containers": containers}
    if pod_resources:
        spec["resources"] = pod_resources
    assert qos_class(spec) == expected


def test_status_qos_class_wins_and_pod_level_resources_are_read() -> None:
    body = _body(qosClass="Guaranteed")
    body["spec"]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}
    s = pod_resize_state(observe_pod(body), None)
    assert s.qos_class == "Guaranteed"
    assert s.pod_resources is not None and s.pod_resources.requests == {CPU: D(2)}
    assert s.requests[CPU] == D(2)  # pod-level requests are what the node sees


def test_the_whole_flow_from_a_pod_body_to_a_patch() -> None:
    body = _body()
    s = pod_resize_state(observe_pod(body), {CPU: D(8), MEMORY: D(16 * GI)})
    d = one(s, rec(cpu="1", memory=3 * GI), now=NOW)
    assert d.decision == Decision.RESIZE  # the cooldown (60 s) has just passed
    # Memory would restart "main", so only its CPU changes.
    assert resize_patch(d) == {
        "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "1"}}}]}
    }
