"""Native restart rules (KEP-5307 Restart, KEP-5532 RestartAllContainers): what of a failure policy
is written into member pods, where, and how the operator accounts for restarts the kubelet made.

The container statuses below are the ones the v1.35 kubelet reported on the real node for a
RestartAllContainers (exit 134 of container a; b restarted with it), in the order it sent them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from podgroup_operator.api.failure_policy import Action, FailurePolicy
from podgroup_operator.api.models import ActionUse
from podgroup_operator.config import Config
from podgroup_operator.core.failures import RESTART_ALL_REASON, detect_failures, restarting_natively
from podgroup_operator.core.labels import HANDLED_FAILURES_ANNOTATION
from podgroup_operator.core.members import Member
from podgroup_operator.core.native_restart import (
    RESTART_ALL_FEATURE,
    has_restart_all_rule,
    native_rules,
    restart_all_nodes,
    with_native_rules,
)
from podgroup_operator.core.observed import observe_pod
from podgroup_operator.core.placement import NodeInfo
from podgroup_operator.core.pods import member_pod
from podgroup_operator.core.policy import decide
from podgroup_operator.core.restart import native_handled
from tests.builders import NodeBuilder, PodBuilder

Body = dict[str, Any]
NOW = datetime(2026, 11, 28, 3, 28, tzinfo=UTC)
RESTART_ALL = {"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [134]}}


def policy(*rules: Body, **fields: Any) -> FailurePolicy:
    return FailurePolicy.model_validate({"rules": list(rules), **fields})


def on_codes(action: str, values: list[int], operator: str = "In", container: str | None = None) -> Body:
    m: Body = {"operator": operator, "values": values}
    if container is not None:
        m["containerName"] = container
    return {"action": action, "onExitCodes": m}


# --- translation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "restart_all", "expected"),
    [
        pytest.param([], True, [], id="no-rules"),
        pytest.param(
            [on_codes("RestartPodInPlace", [134])],
            True,
            [{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [134]}}],
            id="pod-in-place",
        ),
        pytest.param([on_codes("RestartPodInPlace", [134])], False, [], id="pod-in-place-unsupported"),
        pytest.param(
            [on_codes("RestartContainer", [3, 1], "NotIn"), on_codes("RestartPodInPlace", [2])],
            True,
            [
                {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [1, 3]}},
                {"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [2]}},
            ],
            id="order-kept",
        ),
        pytest.param(
            [on_codes("RestartGroupInPlace", [42]), on_codes("RestartPodInPlace", [134])],
            True,
            [],
            id="stops-at-a-group-action",  # a native 42 rule after it could not be told apart
        ),
        pytest.param(
            [{"action": "RecreatePod", "onReasons": ["OOMKilled"]}, on_codes("RestartPodInPlace", [137])],
            True,
            [],
            id="stops-at-a-reason-rule",  # OOMKilled is exit 137: the native rule would take it
        ),
        pytest.param(
            [on_codes("RestartPodInPlace", [1]), on_codes("Ignore", [2]), on_codes("RestartPodInPlace", [3])],
            True,
            [{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [1]}}],
            id="leading-run-only",
        ),
        pytest.param(
            [on_codes("RecreateGroup", [9], container="other"), on_codes("RestartPodInPlace", [134])],
            True,
            [{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [134]}}],
            id="rules-for-other-containers-are-skipped",
        ),
    ],
)
def test_native_rules(rules: list[Body], restart_all: bool, expected: list[Body]) -> None:
    assert native_rules(policy(*rules), "main", restart_all=restart_all) == expected


def spec(*containers: Body, restart_policy: str | None = None) -> Body:
    s: Body = {"containers": list(containers) or [{"name": "main", "image": "busybox"}]}
    if restart_policy:
        s["restartPolicy"] = restart_policy
    return s


def test_rules_go_on_every_container_they_concern_with_an_explicit_restart_policy() -> None:
    out = with_native_rules(
        spec({"name": "main", "image": "x"}, {"name": "side", "image": "x"}),
        policy(on_codes("RestartPodInPlace", [134], container="main")),
        restart_all=True,
    )
    main, side = out["containers"]
    assert main["restartPolicy"] == "Always" and main["restartPolicyRules"] == [RESTART_ALL]
    assert "restartPolicyRules" not in side and "restartPolicy" not in side


def test_plain_restart_rules_change_nothing_under_restart_policy_always() -> None:
    s = spec()
    assert with_native_rules(s, policy(on_codes("RestartContainer", [1])), restart_all=True) == s


def test_plain_restart_rules_let_a_never_pod_restart_on_those_codes() -> None:
    out = with_native_rules(
        spec(restart_policy="Never"), policy(on_codes("RestartContainer", [1])), restart_all=False
    )
    (main,) = out["containers"]
    assert main["restartPolicy"] == "Never"
    assert main["restartPolicyRules"] == [
        {"action": "Restart", "exitCodes": {"operator": "In", "values": [1]}}
    ]


def test_a_container_with_its_own_restart_policy_is_left_as_written() -> None:
    own = {"name": "main", "image": "x", "restartPolicy": "Never"}
    out = with_native_rules(spec(own), policy(on_codes("RestartPodInPlace", [1])), restart_all=True)
    assert out["containers"] == [own]


def test_member_pod_carries_the_rules_and_keeps_the_template_hash() -> None:
    template = {"spec": spec()}
    plain = member_pod(group="g", group_uid="u", member=Member("w", 0, "g-w-0"), template=template)
    native = member_pod(
        group="g",
        group_uid="u",
        member=Member("w", 0, "g-w-0"),
        template=template,
        native_policy=policy(on_codes("RestartPodInPlace", [134])),
        restart_all=True,
    )
    assert "restartPolicyRules" not in plain["spec"]["containers"][0]
    assert native["spec"]["containers"][0]["restartPolicyRules"] == [RESTART_ALL]
    assert native["metadata"]["annotations"] == plain["metadata"]["annotations"]
    assert "restartPolicyRules" not in template["spec"]["containers"][0]  # the template is not touched


def node(name: str, *features: str, kind: str = "real") -> NodeInfo:
    return (
        NodeBuilder(name)
        .without_hostname()
        .labels({"podgroup.dev/node-kind": kind})
        .declared_features(*features)
        .observed()
    )


@pytest.mark.parametrize(
    ("nodes", "selector", "expected"),
    [
        pytest.param([node("r", RESTART_ALL_FEATURE)], {}, True, id="all-declare"),
        pytest.param([node("r", RESTART_ALL_FEATURE), node("k", kind="fake")], {}, False, id="one-does-not"),
        pytest.param(
            [node("r", RESTART_ALL_FEATURE), node("k", kind="fake")],
            {"podgroup.dev/node-kind": "real"},
            True,
            id="the-pod-only-goes-where-they-do",
        ),
        pytest.param(
            [node("k", kind="fake")], {"podgroup.dev/node-kind": "real"}, False, id="no-node-at-all"
        ),
        pytest.param([], {}, False, id="no-nodes"),
    ],
)
def test_restart_all_only_where_every_allowed_node_declares_it(
    nodes: list[NodeInfo], selector: dict[str, str], expected: bool
) -> None:
    assert restart_all_nodes(nodes, {"nodeSelector": selector, "containers": []}) is expected


def test_the_stored_pod_is_the_proof_of_support() -> None:
    assert has_restart_all_rule(
        spec({"name": "a", "restartPolicy": "Always", "restartPolicyRules": [RESTART_ALL]})
    )
    assert not has_restart_all_rule(spec())  # a server without the feature drops the field


# --- detection and accounting, on the kubelet's own status sequence ---------------------------


def cstatus(name: str, restarts: int, state: Body, last: Body | None = None) -> Body:
    return {
        "name": name,
        "image": "registry.local/tools:1.0",
        "imageID": "registry.local/tools@sha256:" + "0" * 64,
        "restartCount": restarts,
        "ready": "running" in state,
        "state": state,
        "lastState": last or {},
    }


RUNNING = {"running": {"startedAt": "2026-11-28T03:27:20Z"}}
EXITED_134 = {
    "terminated": {
        "exitCode": 134,
        "reason": "Error",
        "startedAt": "2026-11-28T03:27:20Z",
        "finishedAt": "2026-11-28T03:27:58Z",
    }
}
WAITING = {"waiting": {"reason": "RestartingAllContainers"}}
KILLED_FOR_RESTART = {"terminated": {"exitCode": 137, "reason": "RestartingAllContainers"}}


def native_pod(*statuses: Body, restarting: bool, handled: dict[str, int] | None = None) -> Any:
    pod = (
        PodBuilder("g-w-0")
        .uid("uid-0")
        .node("real-0")
        .container("a", "x", restartPolicy="Always", restartPolicyRules=[RESTART_ALL])
        .container("b", "x")
        .phase("Running")
        .status(
            conditions=[{"type": "AllContainersRestarting", "status": "True" if restarting else "False"}],
            containerStatuses=list(statuses),
        )
    )
    if handled:
        pod.annotation(HANDLED_FAILURES_ANNOTATION, json.dumps(handled))
    return pod.observed()


# 1: a exited 134, the kubelet has begun; 2: both stopped for the restart; 3: both running again.
STARTED = native_pod(
    cstatus("a", 1, EXITED_134), cstatus("b", 1, RUNNING), restarting=True, handled={"c/a": 1, "c/b": 1}
)
STOPPED = native_pod(
    cstatus("a", 2, WAITING, KILLED_FOR_RESTART),
    cstatus("b", 2, WAITING, KILLED_FOR_RESTART),
    restarting=False,
    handled={"c/a": 1, "c/b": 1},
)
DONE = native_pod(
    cstatus("a", 2, RUNNING), cstatus("b", 2, RUNNING), restarting=False, handled={"c/a": 1, "c/b": 1}
)


def detect(pod: Any) -> list[Any]:
    return detect_failures(pod, node_lost=False, watched_conditions=())


def test_the_exit_is_seen_while_the_kubelet_restarts_the_pod() -> None:
    (f,) = detect(STARTED)
    assert (f.key, f.count, f.exit_code, f.native) == ("c/a", 2, 134, True)
    assert restarting_natively(STARTED)


@pytest.mark.parametrize("pod", [STOPPED, DONE], ids=["stopped", "done"])
def test_a_native_restart_whose_exit_was_missed_is_still_counted_once(pod: Any) -> None:
    (f,) = detect(pod)  # one failure for the pod, not one per container
    # The same identity as when the exit was seen: a decision recorded then is completed, not redone.
    assert (f.key, f.count, f.exit_code, f.reason, f.native) == ("c/a", 2, None, RESTART_ALL_REASON, True)


@pytest.mark.parametrize("pod", [STARTED, STOPPED, DONE], ids=["started", "stopped", "done"])
def test_accounting_a_native_restart_covers_every_container_at_every_stage(pod: Any) -> None:
    assert native_handled(pod) == {"c/a": 2, "c/b": 2}
    accounted = native_pod(
        cstatus("a", 2, RUNNING), cstatus("b", 2, RUNNING), restarting=False, handled=native_handled(pod)
    )
    assert detect(accounted) == []


def test_the_first_native_restart_of_a_fresh_pod() -> None:
    fresh = native_pod(cstatus("a", 0, EXITED_134), cstatus("b", 0, RUNNING), restarting=True)
    (f,) = detect(fresh)
    assert (f.count, f.native) == (1, True)
    assert native_handled(fresh) == {"c/a": 1, "c/b": 1}


def test_without_native_rules_an_empty_last_state_is_not_a_restart_to_count() -> None:
    plain = observe_pod(
        {
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "a", "image": "x"}]},
            "status": {"phase": "Running", "containerStatuses": [cstatus("a", 1, RUNNING)]},
        }
    )
    assert detect(plain) == []


# --- decisions --------------------------------------------------------------------------------


def test_a_native_restart_is_counted_and_never_delayed() -> None:
    (f,) = detect(STOPPED)
    p = policy(on_codes("RestartPodInPlace", [134]), backoff={"initialSeconds": 60, "maxSeconds": 60})
    history = [ActionUse(action=Action.RESTART_POD_IN_PLACE, time=NOW)]
    d = decide(p, f, restarts=1, history=history, now=NOW)
    assert d.action == Action.RESTART_POD_IN_PLACE and d.counted and d.not_before is None
    assert "native RestartAllContainers rule" in d.why


def test_a_native_restart_past_the_budget_fails_the_group_and_says_so() -> None:
    (f,) = detect(STARTED)
    d = decide(
        policy(on_codes("RestartPodInPlace", [134]), maxRestarts=1), f, restarts=1, history=[], now=NOW
    )
    assert d.action == Action.FAIL_GROUP
    assert "one restart past the budget" in d.why


def test_native_restarts_escalate_like_any_other() -> None:
    (f,) = detect(STARTED)
    p = policy(on_codes("RestartPodInPlace", [134]), escalation={"after": 2, "windowSeconds": 600})
    history = [ActionUse(action=Action.RESTART_POD_IN_PLACE, time=NOW)] * 2
    d = decide(p, f, restarts=2, history=history, now=NOW)
    assert d.action == Action.RESTART_GROUP_IN_PLACE


# --- the switch -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(None, "auto"), ("auto", "auto"), ("off", "off")])
def test_pgo_native_restart(monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: str) -> None:
    if raw is None:
        monkeypatch.delenv("PGO_NATIVE_RESTART", raising=False)
    else:
        monkeypatch.setenv("PGO_NATIVE_RESTART", raw)
    assert Config.from_env().native_restart == expected


def test_pgo_native_restart_refuses_other_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGO_NATIVE_RESTART", "on")
    with pytest.raises(ValueError, match="auto or off"):
        Config.from_env()
