"""api.failure_policy: the failure-policy models, validated from the camelCase wire form."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from podgroup_operator.api.failure_policy import (
    BACKOFF_RULE,
    ONE_MATCHER_MESSAGE,
    ONE_MATCHER_RULE,
    Action,
    Backoff,
    ExitCodeOperator,
    FailurePolicy,
    FailureReason,
    FailureRule,
)

ORDER = [
    "Ignore",
    "RestartContainer",
    "RestartPodInPlace",
    "RestartGroupInPlace",
    "RecreatePod",
    "RecreateGroup",
    "FailGroup",
]


def policy(**fields: Any) -> FailurePolicy:
    return FailurePolicy.model_validate(fields)


def rule(**fields: Any) -> dict[str, Any]:
    return {"action": "RecreatePod", **fields}


# --- Action -----------------------------------------------------------------------------------


def test_actions_are_ordered_by_blast_radius() -> None:
    assert [a.value for a in Action] == ORDER


@pytest.mark.parametrize(
    ("action", "bigger"),
    [
        ("Ignore", "RestartContainer"),
        ("RestartContainer", "RestartPodInPlace"),
        ("RestartPodInPlace", "RestartGroupInPlace"),
        ("RestartGroupInPlace", "RecreatePod"),
        ("RecreatePod", "RecreateGroup"),
        ("RecreateGroup", "FailGroup"),
        ("FailGroup", "FailGroup"),  # the ladder ends there
    ],
)
def test_next_larger(action: str, bigger: str) -> None:
    assert Action(action).next_larger() == Action(bigger)


def test_repeated_next_larger_never_passes_fail_group() -> None:
    a = Action.IGNORE
    seen = [a]
    for _ in range(20):
        a = a.next_larger()
        seen.append(a)
    assert seen[: len(ORDER)] == [Action(x) for x in ORDER]
    assert set(seen[len(ORDER) :]) == {Action.FAIL_GROUP}


# --- defaults and the full wire form ------------------------------------------------------------


def test_defaults_of_an_empty_policy() -> None:
    p = policy()
    assert p.max_restarts == 5
    assert (p.backoff.initial_seconds, p.backoff.max_seconds) == (10, 300)
    assert (p.escalation.after, p.escalation.window_seconds) == (3, 600)
    assert p.default_action == Action.RESTART_CONTAINER
    assert p.rules == []


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"backoff": {"initialSeconds": 1}}, (1, 300)),
        ({"backoff": {"maxSeconds": 60}}, (10, 60)),
        ({"backoff": {}}, (10, 300)),
    ],
)
def test_backoff_fields_default_one_by_one(wire: dict[str, Any], expected: tuple[int, int]) -> None:
    b = policy(**wire).backoff
    assert (b.initial_seconds, b.max_seconds) == expected


def test_full_policy_from_camel_case() -> None:
    wire = {
        "maxRestarts": 7,
        "backoff": {"initialSeconds": 5, "maxSeconds": 80},
        "escalation": {"after": 2, "windowSeconds": 120},
        "defaultAction": "Ignore",
        "rules": [
            {
                "action": "RestartGroupInPlace",
                "onExitCodes": {"containerName": "trainer", "operator": "In", "values": [134]},
            },
            {"action": "RestartPodInPlace", "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
            {"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailGroup", "onReasons": ["OOMKilled", "NodeLost"]},
        ],
    }
    p = FailurePolicy.model_validate(wire)
    assert p.max_restarts == 7
    assert p.default_action == Action.IGNORE
    assert (p.escalation.after, p.escalation.window_seconds) == (2, 120)
    first, second, third, fourth = p.rules
    assert first.on_exit_codes is not None and first.on_exit_codes.container_name == "trainer"
    assert first.on_exit_codes.operator == ExitCodeOperator.IN
    assert second.on_exit_codes is not None and second.on_exit_codes.container_name is None
    assert second.on_exit_codes.operator == ExitCodeOperator.NOT_IN
    assert third.on_pod_conditions is not None
    assert [(c.type, c.status) for c in third.on_pod_conditions] == [("DisruptionTarget", "True")]
    assert fourth.on_reasons == [FailureReason.OOM_KILLED, FailureReason.NODE_LOST]
    # The wire form round-trips (the status default of the condition is written out).
    again = FailurePolicy.model_validate(p.to_dict())
    assert again == p
    assert p.to_dict()["rules"][2]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]


def test_unknown_fields_are_ignored() -> None:
    p = policy(maxRestarts=1, somethingNew=True, rules=[rule(onReasons=["Evicted"], future={"x": 1})])
    assert p.max_restarts == 1
    assert p.rules[0].on_reasons == [FailureReason.EVICTED]


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [[1], [255], [1, 42, 137, 255], list(range(1, 256))],
)
def test_exit_codes_in_range_are_accepted(values: list[int]) -> None:
    p = policy(rules=[rule(onExitCodes={"operator": "In", "values": values})])
    assert p.rules[0].on_exit_codes is not None
    assert p.rules[0].on_exit_codes.values == values


@pytest.mark.parametrize(
    ("on_exit_codes", "message"),
    [
        ({"operator": "In", "values": [0]}, "between 1 and 255"),
        ({"operator": "In", "values": [256]}, "between 1 and 255"),
        ({"operator": "NotIn", "values": [-1]}, "between 1 and 255"),
        ({"operator": "In", "values": [1, 2, 300]}, "between 1 and 255"),
        ({"operator": "In", "values": []}, "at least 1"),
        ({"operator": "In", "values": [*range(1, 256), 1]}, "at most 255"),
        ({"operator": "Equals", "values": [1]}, "'In' or 'NotIn'"),
        ({"values": [1]}, "operator"),
        ({"operator": "In"}, "values"),
        ({"containerName": "Main_1", "operator": "In", "values": [1]}, "pattern"),
        ({"containerName": "-main", "operator": "In", "values": [1]}, "pattern"),
        ({"containerName": "m" * 64, "operator": "In", "values": [1]}, "at most 63"),
    ],
)
def test_bad_exit_code_matchers_are_refused(on_exit_codes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(rules=[rule(onExitCodes=on_exit_codes)])


@pytest.mark.parametrize(
    "matchers",
    [
        {"onExitCodes": {"operator": "In", "values": [1]}},
        {"onReasons": ["OOMKilled"]},
        {"onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ],
)
def test_a_rule_with_exactly_one_matcher_is_accepted(matchers: dict[str, Any]) -> None:
    r = FailureRule.model_validate(rule(**matchers))
    assert sum(x is not None for x in (r.on_exit_codes, r.on_reasons, r.on_pod_conditions)) == 1


@pytest.mark.parametrize(
    "matchers",
    [
        {},
        {"onExitCodes": {"operator": "In", "values": [1]}, "onReasons": ["OOMKilled"]},
        {"onReasons": ["OOMKilled"], "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"onExitCodes": {"operator": "In", "values": [1]}, "onPodConditions": [{"type": "X"}]},
        {
            "onExitCodes": {"operator": "In", "values": [1]},
            "onReasons": ["Error"],
            "onPodConditions": [{"type": "X"}],
        },
        {"onExitCodes": None, "onReasons": None},
    ],
)
def test_a_rule_needs_exactly_one_matcher(matchers: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=ONE_MATCHER_MESSAGE):
        policy(rules=[rule(**matchers)])


def test_the_one_matcher_rule_is_also_a_cel_rule_of_the_schema() -> None:
    schema = FailureRule.model_json_schema(by_alias=True)
    assert {"rule": ONE_MATCHER_RULE, "message": ONE_MATCHER_MESSAGE} in schema["x-kubernetes-validations"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"onReasons": []}, "at least 1"),
        ({"onReasons": ["Crashed"]}, "OOMKilled"),
        ({"onPodConditions": []}, "at least 1"),
        ({"onPodConditions": [{"type": ""}]}, "at least 1 character"),
        ({"onPodConditions": [{"type": "Ready", "status": "Yes"}]}, "pattern"),
        ({"onPodConditions": [{"type": f"C{i}"} for i in range(9)]}, "at most 8"),
        ({"action": "Reboot", "onReasons": ["Error"]}, "Ignore"),
    ],
)
def test_bad_rules_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(rules=[rule(**fields)])


@pytest.mark.parametrize("reason", [r.value for r in FailureReason])
def test_every_failure_reason_is_accepted(reason: str) -> None:
    assert policy(rules=[rule(onReasons=[reason])]).rules[0].on_reasons == [FailureReason(reason)]


@pytest.mark.parametrize("status", ["True", "False", "Unknown"])
def test_pod_condition_statuses(status: str) -> None:
    p = policy(rules=[rule(onPodConditions=[{"type": "DisruptionTarget", "status": status}])])
    assert p.rules[0].on_pod_conditions is not None
    assert p.rules[0].on_pod_conditions[0].status == status


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"maxRestarts": -1}, "greater than or equal to 0"),
        ({"maxRestarts": 10001}, "less than or equal to 10000"),
        ({"backoff": {"initialSeconds": -1}}, "greater than or equal to 0"),
        ({"backoff": {"initialSeconds": 3601}}, "less than or equal to 3600"),
        ({"backoff": {"maxSeconds": 86401}}, "less than or equal to 86400"),
        ({"escalation": {"after": 0}}, "greater than or equal to 1"),
        ({"escalation": {"after": 101}}, "less than or equal to 100"),
        ({"escalation": {"windowSeconds": 0}}, "greater than or equal to 1"),
        ({"defaultAction": "Reboot"}, "Ignore"),
        ({"rules": [rule(onReasons=["Error"])] * 21}, "at most 20"),
    ],
)
def test_out_of_range_policy_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(**fields)


@pytest.mark.parametrize(("initial", "maximum"), [(0, 0), (10, 10), (10, 300), (0, 86400), (3600, 3600)])
def test_backoff_initial_not_above_max_is_accepted(initial: int, maximum: int) -> None:
    b = policy(backoff={"initialSeconds": initial, "maxSeconds": maximum}).backoff
    assert (b.initial_seconds, b.max_seconds) == (initial, maximum)


def test_backoff_initial_above_max_is_a_cel_rule_of_the_schema() -> None:
    schema = Backoff.model_json_schema(by_alias=True)
    assert schema["x-kubernetes-validations"] == [
        {"rule": BACKOFF_RULE, "message": "initialSeconds must not exceed maxSeconds"}
    ]
    # The schema defaults both fields, so the API server's defaulting makes has() true before CEL runs.
    assert schema["properties"]["initialSeconds"]["default"] == 10
    assert schema["properties"]["maxSeconds"]["default"] == 300


@pytest.mark.parametrize(("initial", "maximum"), [(301, 300), (600, 10)])
def test_backoff_initial_above_max_is_refused(initial: int, maximum: int) -> None:
    with pytest.raises(ValidationError, match="initialSeconds must not exceed maxSeconds"):
        policy(backoff={"initialSeconds": initial, "maxSeconds": maximum})
