"""core.policy: which action a failure gets — rules (first match wins), the restart budget, the
escalation ladder and the backoff between paced actions. The clock is always injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from podgroup_operator.api.failure_policy import Action, FailurePolicy
from podgroup_operator.api.models import ActionUse
from podgroup_operator.core.failures import Failure
from podgroup_operator.core.policy import Decision, decide, describe, match, watched_conditions

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
A = Action
PACED = [A.RESTART_POD_IN_PLACE, A.RESTART_GROUP_IN_PLACE, A.RECREATE_POD, A.RECREATE_GROUP]
UNPACED = [A.IGNORE, A.RESTART_CONTAINER, A.FAIL_GROUP]
DISRUPTION = ("DisruptionTarget", "True")


def policy(*rules: dict[str, Any], **fields: Any) -> FailurePolicy:
    return FailurePolicy.model_validate({"rules": list(rules), **fields})


def exit_failure(code: int, container: str = "trainer", reason: str = "Error", **kw: Any) -> Failure:
    return Failure(
        "train-worker-1", "uid-1", f"c/{container}", 1, reason, container=container, exit_code=code, **kw
    )


def pod_failure(reason: str = "Evicted", **kw: Any) -> Failure:
    return Failure("train-worker-1", "uid-1", f"pod/{reason}", 1, reason, **kw)


def node_failure() -> Failure:
    return Failure("train-worker-1", "uid-1", "node", 1, "NodeLost")


def cond_failure(*conditions: tuple[str, str]) -> Failure:
    return Failure(
        "train-worker-1", "uid-1", "cond/DisruptionTarget", 1, "DisruptionTarget", conditions=conditions
    )


def uses(*entries: tuple[Action, float]) -> list[ActionUse]:
    """History entries, each `seconds` before NOW."""
    return [ActionUse(action=a, time=NOW - timedelta(seconds=s)) for a, s in entries]


def always(action: Action) -> FailurePolicy:
    """A policy that maps every failure to `action` (the default), with a large budget."""
    return policy(defaultAction=action.value, maxRestarts=10000)


def on_codes(action: str, operator: str, values: list[int], container: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"operator": operator, "values": values}
    if container is not None:
        m["containerName"] = container
    return {"action": action, "onExitCodes": m}


# --- match --------------------------------------------------------------------------------------

MATCH_CASES = [
    # (id, rules, failure, expected action, expected source)
    ("no rules: the default", [], exit_failure(1), A.RESTART_CONTAINER, "the default action"),
    (
        "In, container named",
        [on_codes("RestartGroupInPlace", "In", [134], "trainer")],
        exit_failure(134),
        A.RESTART_GROUP_IN_PLACE,
        "rule 1",
    ),
    (
        "In, other container named",
        [on_codes("RestartGroupInPlace", "In", [134], "sidecar")],
        exit_failure(134),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "In, any container",
        [on_codes("RecreatePod", "In", [1, 134])],
        exit_failure(134, container="sidecar"),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "In, code not listed",
        [on_codes("RecreatePod", "In", [1, 2])],
        exit_failure(3),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "NotIn, code not listed",
        [on_codes("FailGroup", "NotIn", [1, 2])],
        exit_failure(3),
        A.FAIL_GROUP,
        "rule 1",
    ),
    (
        "NotIn, code listed",
        [on_codes("FailGroup", "NotIn", [1, 2])],
        exit_failure(2),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "NotIn, container named",
        [on_codes("FailGroup", "NotIn", [1], "trainer")],
        exit_failure(9),
        A.FAIL_GROUP,
        "rule 1",
    ),
    (
        "NotIn, other container named",
        [on_codes("FailGroup", "NotIn", [1], "sidecar")],
        exit_failure(9),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "exit codes never match a pod-level failure",
        [on_codes("FailGroup", "NotIn", [1])],
        pod_failure("Evicted"),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "exit codes never match a lost node",
        [on_codes("FailGroup", "NotIn", [1])],
        node_failure(),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "reason OOMKilled",
        [{"action": "FailGroup", "onReasons": ["OOMKilled"]}],
        exit_failure(137, reason="OOMKilled"),
        A.FAIL_GROUP,
        "rule 1",
    ),
    (
        "reason Error does not match OOMKilled",
        [{"action": "FailGroup", "onReasons": ["OOMKilled"]}],
        exit_failure(137),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "reason Evicted (pod-level)",
        [{"action": "RecreatePod", "onReasons": ["DeadlineExceeded", "Evicted"]}],
        pod_failure("Evicted"),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "reason NodeLost",
        [{"action": "RecreatePod", "onReasons": ["NodeLost"]}],
        node_failure(),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "pod condition",
        [{"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}],
        cond_failure(("Ready", "False"), DISRUPTION),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "pod condition status defaults to True",
        [{"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget"}]}],
        cond_failure(DISRUPTION),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "pod condition, any of several",
        [{"action": "RecreatePod", "onPodConditions": [{"type": "A"}, {"type": "DisruptionTarget"}]}],
        cond_failure(DISRUPTION),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "pod condition with another status",
        [{"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget", "status": "False"}]}],
        cond_failure(DISRUPTION),
        A.RESTART_CONTAINER,
        "the default action",
    ),
    (
        "pod condition matches a container failure of a pod that has it",
        [{"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget"}]}],
        exit_failure(143, conditions=(DISRUPTION,)),
        A.RECREATE_POD,
        "rule 1",
    ),
    (
        "first matching rule wins",
        [
            {"action": "FailGroup", "onReasons": ["OOMKilled"]},
            on_codes("RestartPodInPlace", "In", [42]),
            on_codes("RecreateGroup", "In", [42]),
            {"action": "Ignore", "onReasons": ["Error"]},
        ],
        exit_failure(42),
        A.RESTART_POD_IN_PLACE,
        "rule 2",
    ),
    (
        "a later rule when earlier ones do not match",
        [
            on_codes("RestartPodInPlace", "In", [42], "sidecar"),
            {"action": "Ignore", "onReasons": ["OOMKilled"]},
            {"action": "RecreateGroup", "onReasons": ["Error"]},
        ],
        exit_failure(42),
        A.RECREATE_GROUP,
        "rule 3",
    ),
]


@pytest.mark.parametrize(
    ("rules", "failure", "action", "source"), [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES]
)
def test_match(rules: list[dict[str, Any]], failure: Failure, action: Action, source: str) -> None:
    assert match(policy(*rules), failure) == (action, source)


@pytest.mark.parametrize("default", list(Action))
def test_the_default_action_when_nothing_matches(default: Action) -> None:
    p = policy({"action": "FailGroup", "onReasons": ["OOMKilled"]}, defaultAction=default.value)
    assert match(p, exit_failure(1)) == (default, "the default action")


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        (exit_failure(42), "container trainer of pod train-worker-1 failed with exit code 42 (Error)"),
        (pod_failure("Evicted"), "pod train-worker-1 failed (Evicted)"),
        (node_failure(), "pod train-worker-1 failed (NodeLost)"),
    ],
)
def test_describe(failure: Failure, text: str) -> None:
    assert describe(failure) == text


# --- watched_conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], set()),
        ([{"action": "FailGroup", "onReasons": ["OOMKilled"]}, on_codes("Ignore", "In", [1])], set()),
        ([{"action": "RecreatePod", "onPodConditions": [{"type": "DisruptionTarget"}]}], {DISRUPTION}),
        (
            [
                {
                    "action": "RecreatePod",
                    "onPodConditions": [{"type": "DisruptionTarget"}, {"type": "X", "status": "False"}],
                },
                {"action": "FailGroup", "onReasons": ["OOMKilled"]},
                {
                    "action": "Ignore",
                    "onPodConditions": [
                        {"type": "DisruptionTarget", "status": "True"},
                        {"type": "Y", "status": "Unknown"},
                    ],
                },
            ],
            {DISRUPTION, ("X", "False"), ("Y", "Unknown")},
        ),
    ],
)
def test_watched_conditions(rules: list[dict[str, Any]], expected: set[tuple[str, str]]) -> None:
    assert watched_conditions(policy(*rules)) == expected


# --- decide: Ignore and the budget --------------------------------------------------------------


@pytest.mark.parametrize("restarts", [0, 4, 5, 1000])
def test_ignore_is_never_counted_nor_escalated_nor_paced(restarts: int) -> None:
    p = policy(defaultAction="Ignore", maxRestarts=5, escalation={"after": 1})
    history = uses(*[(A.IGNORE, 1)] * 10, (A.RECREATE_POD, 2))
    d = decide(p, exit_failure(1), restarts=restarts, history=history, now=NOW)
    assert d.action == A.IGNORE
    assert not d.counted
    assert d.not_before is None
    assert "escalated" not in d.why and "budget" not in d.why


@pytest.mark.parametrize("action", [a for a in Action if a not in (A.IGNORE, A.FAIL_GROUP)])
def test_every_restart_or_recreate_is_counted(action: Action) -> None:
    assert Decision(action, "x").counted


def test_failing_the_group_spends_no_budget() -> None:
    assert not Decision(A.FAIL_GROUP, "x").counted


@pytest.mark.parametrize(
    ("max_restarts", "restarts", "spent"),
    [(5, 0, False), (5, 4, False), (5, 5, True), (5, 6, True), (0, 0, True), (1, 0, False), (1, 1, True)],
)
def test_restart_budget(max_restarts: int, restarts: int, spent: bool) -> None:
    p = policy(on_codes("RestartPodInPlace", "In", [42]), maxRestarts=max_restarts)
    d = decide(p, exit_failure(42), restarts=restarts, history=[], now=NOW)
    if spent:
        assert d.action == A.FAIL_GROUP
        assert d.why.endswith(f"; the restart budget of {max_restarts} is spent")
        assert d.not_before is None
    else:
        assert d.action == A.RESTART_POD_IN_PLACE
        assert "budget" not in d.why


def test_why_names_the_failure_the_action_and_the_rule() -> None:
    p = policy({"action": "FailGroup", "onReasons": ["OOMKilled"]}, on_codes("RestartPodInPlace", "In", [42]))
    d = decide(p, exit_failure(42), restarts=0, history=[], now=NOW)
    failed = "container trainer of pod train-worker-1 failed with exit code 42 (Error)"
    assert d.why == f"{failed}: RestartPodInPlace by rule 2"
    d = decide(p, cond_failure(DISRUPTION), restarts=0, history=[], now=NOW)
    assert d.why == "pod train-worker-1 failed (DisruptionTarget): RestartContainer by the default action"


# --- decide: members that cannot restart in place -----------------------------------------------

IN_PLACE_CASES = [
    # (id, failure, matched action, expected action)
    ("lost node, RestartContainer", node_failure(), A.RESTART_CONTAINER, A.RECREATE_POD),
    ("lost node, RestartPodInPlace", node_failure(), A.RESTART_POD_IN_PLACE, A.RECREATE_POD),
    ("evicted, RestartContainer", pod_failure("Evicted"), A.RESTART_CONTAINER, A.RECREATE_POD),
    ("deadline, RestartPodInPlace", pod_failure("DeadlineExceeded"), A.RESTART_POD_IN_PLACE, A.RECREATE_POD),
    ("lost node, Ignore stays", node_failure(), A.IGNORE, A.IGNORE),
    ("lost node, RecreateGroup stays", node_failure(), A.RECREATE_GROUP, A.RECREATE_GROUP),
    ("lost node, FailGroup stays", node_failure(), A.FAIL_GROUP, A.FAIL_GROUP),
    ("container failure stays in place", exit_failure(1), A.RESTART_POD_IN_PLACE, A.RESTART_POD_IN_PLACE),
    ("condition stays in place", cond_failure(DISRUPTION), A.RESTART_CONTAINER, A.RESTART_CONTAINER),
]


@pytest.mark.parametrize(
    ("failure", "action", "expected"), [c[1:] for c in IN_PLACE_CASES], ids=[c[0] for c in IN_PLACE_CASES]
)
def test_a_member_that_cannot_restart_in_place_is_recreated(
    failure: Failure, action: Action, expected: Action
) -> None:
    d = decide(always(action), failure, restarts=0, history=[], now=NOW)
    assert d.action == expected
    assert ("cannot restart in place" in d.why) == (expected != action)


def test_a_recreate_for_a_lost_node_is_budgeted_escalated_and_paced() -> None:
    p = policy(defaultAction="RestartContainer", maxRestarts=3, escalation={"after": 1})
    history = uses((A.RECREATE_POD, 5))
    d = decide(p, node_failure(), restarts=0, history=history, now=NOW)
    assert d.action == A.RECREATE_GROUP
    assert d.why.endswith(
        "; the member cannot restart in place (NodeLost), so RecreatePod"
        "; escalated to RecreateGroup after 1 uses of RecreatePod within 600s"
    )
    assert d.not_before == NOW - timedelta(seconds=5) + timedelta(seconds=10)
    assert decide(p, node_failure(), restarts=3, history=history, now=NOW).action == A.FAIL_GROUP


# --- decide: escalation -------------------------------------------------------------------------

ESCALATION_CASES = [
    # (id, matched action, after, history (action, seconds ago), expected action)
    ("no history", A.RESTART_POD_IN_PLACE, 2, [], A.RESTART_POD_IN_PLACE),
    (
        "below the threshold",
        A.RESTART_POD_IN_PLACE,
        3,
        [(A.RESTART_POD_IN_PLACE, 10)] * 2,
        A.RESTART_POD_IN_PLACE,
    ),
    (
        "at the threshold",
        A.RESTART_POD_IN_PLACE,
        2,
        [(A.RESTART_POD_IN_PLACE, 10)] * 2,
        A.RESTART_GROUP_IN_PLACE,
    ),
    ("after=1", A.RESTART_CONTAINER, 1, [(A.RESTART_CONTAINER, 10)], A.RESTART_POD_IN_PLACE),
    (
        "other actions do not count",
        A.RESTART_POD_IN_PLACE,
        2,
        [(A.RESTART_POD_IN_PLACE, 10), (A.RECREATE_POD, 10), (A.IGNORE, 10), (A.RESTART_CONTAINER, 10)],
        A.RESTART_POD_IN_PLACE,
    ),
    (
        "repeatedly: two rungs",
        A.RESTART_POD_IN_PLACE,
        2,
        [
            (A.RESTART_POD_IN_PLACE, 50),
            (A.RESTART_POD_IN_PLACE, 40),
            (A.RESTART_GROUP_IN_PLACE, 30),
            (A.RESTART_GROUP_IN_PLACE, 20),
        ],
        A.RECREATE_POD,
    ),
    (
        "repeatedly: a gap in the ladder stops it",
        A.RESTART_CONTAINER,
        1,
        [(A.RESTART_CONTAINER, 10), (A.RESTART_GROUP_IN_PLACE, 10)],
        A.RESTART_POD_IN_PLACE,
    ),
    (
        "all the way, never past FailGroup",
        A.RESTART_CONTAINER,
        1,
        [(a, 10) for a in Action if a != A.IGNORE],
        A.FAIL_GROUP,
    ),
    ("RecreateGroup escalates to FailGroup", A.RECREATE_GROUP, 1, [(A.RECREATE_GROUP, 10)], A.FAIL_GROUP),
    ("FailGroup stays FailGroup", A.FAIL_GROUP, 1, [(A.FAIL_GROUP, 10)] * 5, A.FAIL_GROUP),
    (
        "uses outside the window do not count",
        A.RESTART_POD_IN_PLACE,
        2,
        [(A.RESTART_POD_IN_PLACE, 601)] * 5,
        A.RESTART_POD_IN_PLACE,
    ),
    (
        "only uses inside the window count",
        A.RESTART_POD_IN_PLACE,
        2,
        [(A.RESTART_POD_IN_PLACE, 3600), (A.RESTART_POD_IN_PLACE, 700), (A.RESTART_POD_IN_PLACE, 10)],
        A.RESTART_POD_IN_PLACE,
    ),
    (
        "a use exactly at the window's edge counts",
        A.RESTART_POD_IN_PLACE,
        2,
        [(A.RESTART_POD_IN_PLACE, 600)] * 2,
        A.RESTART_GROUP_IN_PLACE,
    ),
]


@pytest.mark.parametrize(
    ("action", "after", "history", "expected"),
    [c[1:] for c in ESCALATION_CASES],
    ids=[c[0] for c in ESCALATION_CASES],
)
def test_escalation(
    action: Action, after: int, history: list[tuple[Action, float]], expected: Action
) -> None:
    p = policy(
        defaultAction=action.value, maxRestarts=10000, escalation={"after": after, "windowSeconds": 600}
    )
    d = decide(p, exit_failure(1), restarts=0, history=uses(*history), now=NOW)
    assert d.action == expected
    assert ("escalated" in d.why) == (expected != action)


def test_escalation_explains_each_rung() -> None:
    p = policy(defaultAction="RestartPodInPlace", escalation={"after": 2, "windowSeconds": 120})
    history = uses(*[(A.RESTART_POD_IN_PLACE, 30)] * 2, *[(A.RESTART_GROUP_IN_PLACE, 20)] * 3)
    d = decide(p, exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == A.RECREATE_POD
    assert d.why.endswith(
        "RestartPodInPlace by the default action"
        "; escalated to RestartGroupInPlace after 2 uses of RestartPodInPlace within 120s"
        "; escalated to RecreatePod after 3 uses of RestartGroupInPlace within 120s"
    )


def test_escalation_uses_the_injected_clock() -> None:
    p = policy(defaultAction="RecreatePod", escalation={"after": 1, "windowSeconds": 60})
    history = [ActionUse(action=A.RECREATE_POD, time=NOW)]
    f = exit_failure(1)
    assert (
        decide(p, f, restarts=0, history=history, now=NOW + timedelta(seconds=60)).action == A.RECREATE_GROUP
    )
    assert decide(p, f, restarts=0, history=history, now=NOW + timedelta(seconds=61)).action == A.RECREATE_POD


def test_the_budget_wins_over_escalation() -> None:
    p = policy(defaultAction="RestartContainer", maxRestarts=2, escalation={"after": 1})
    d = decide(p, exit_failure(1), restarts=2, history=uses((A.RESTART_CONTAINER, 1)), now=NOW)
    assert d.action == A.FAIL_GROUP
    assert "budget of 2 is spent" in d.why and "escalated" not in d.why


# --- decide: backoff ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "maximum", "paced_uses", "delay"),
    [
        (10, 300, 0, None),
        (10, 300, 1, 10),
        (10, 300, 2, 20),
        (10, 300, 3, 40),
        (10, 300, 5, 160),
        (10, 300, 6, 300),  # 320, capped
        (10, 300, 64, 300),  # a full history does not overflow
        (0, 300, 4, 0),
        (1, 1, 3, 1),
        (3600, 86400, 10, 86400),
        (7, 100, 4, 56),
    ],
)
def test_backoff_delay(initial: int, maximum: int, paced_uses: int, delay: int | None) -> None:
    p = policy(
        defaultAction="RestartPodInPlace",
        backoff={"initialSeconds": initial, "maxSeconds": maximum},
        escalation={"after": 100},
        maxRestarts=10000,
    )
    # The most recent paced use is 5 s ago; older ones further back.
    history = uses(*[(PACED[i % len(PACED)], 5 + 3 * i) for i in range(paced_uses)])
    d = decide(p, exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == A.RESTART_POD_IN_PLACE
    last = NOW - timedelta(seconds=5)
    assert d.not_before == (None if delay is None else last + timedelta(seconds=delay))


@pytest.mark.parametrize("action", PACED)
def test_every_paced_action_waits(action: Action) -> None:
    d = decide(always(action), exit_failure(1), restarts=0, history=uses((A.RECREATE_POD, 3)), now=NOW)
    assert d.action == action
    assert d.not_before == NOW - timedelta(seconds=3) + timedelta(seconds=10)


@pytest.mark.parametrize("action", UNPACED)
def test_unpaced_actions_never_wait(action: Action) -> None:
    history = uses(*[(p, 1) for p in PACED])
    d = decide(always(action), exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == action
    assert d.not_before is None


def test_unpaced_uses_do_not_count_toward_backoff() -> None:
    history = uses(
        (A.RESTART_GROUP_IN_PLACE, 100),
        (A.RESTART_CONTAINER, 5),
        (A.IGNORE, 4),
        (A.FAIL_GROUP, 3),
        (A.RESTART_CONTAINER, 2),
    )
    d = decide(always(A.RECREATE_POD), exit_failure(1), restarts=0, history=history, now=NOW)
    # One paced use (k = 1): initial delay, after that use, not after the later unpaced ones.
    assert d.not_before == NOW - timedelta(seconds=100) + timedelta(seconds=10)


def test_backoff_is_measured_from_the_latest_paced_use_whatever_the_order() -> None:
    history = uses((A.RECREATE_POD, 10), (A.RESTART_POD_IN_PLACE, 500), (A.RECREATE_GROUP, 200))
    d = decide(always(A.RESTART_POD_IN_PLACE), exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.not_before == NOW - timedelta(seconds=10) + timedelta(seconds=40)


def test_backoff_counts_paced_uses_outside_the_escalation_window() -> None:
    p = policy(defaultAction="RecreatePod", maxRestarts=10000, escalation={"after": 1, "windowSeconds": 60})
    history = uses((A.RESTART_POD_IN_PLACE, 5000), (A.RESTART_GROUP_IN_PLACE, 4000))
    d = decide(p, exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == A.RECREATE_POD  # nothing within the window
    assert d.not_before == NOW - timedelta(seconds=4000) + timedelta(seconds=20)


def test_a_past_not_before_means_act_now() -> None:
    d = decide(
        always(A.RECREATE_POD), exit_failure(1), restarts=0, history=uses((A.RECREATE_POD, 3600)), now=NOW
    )
    assert d.not_before is not None and d.not_before < NOW


def test_an_escalated_action_is_paced_by_what_it_became() -> None:
    p = policy(defaultAction="RestartContainer", maxRestarts=10000, escalation={"after": 2})
    history = uses((A.RESTART_CONTAINER, 30), (A.RESTART_CONTAINER, 20), (A.RECREATE_POD, 15))
    d = decide(p, exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == A.RESTART_POD_IN_PLACE
    assert d.not_before == NOW - timedelta(seconds=15) + timedelta(seconds=10)


def test_escalation_to_fail_group_is_not_paced() -> None:
    p = policy(defaultAction="RecreateGroup", maxRestarts=10000, escalation={"after": 1})
    history = uses((A.RECREATE_GROUP, 1))
    d = decide(p, exit_failure(1), restarts=0, history=history, now=NOW)
    assert d.action == A.FAIL_GROUP
    assert d.not_before is None


def test_history_read_back_from_the_wire_form() -> None:
    """The record kept in status comes back as strings and RFC 3339 times."""
    wire = [{"action": "RestartPodInPlace", "time": "2025-01-02T03:04:00Z"}] * 3
    history = [ActionUse.model_validate(h) for h in wire]
    p = policy(defaultAction="RestartPodInPlace", escalation={"after": 3})
    d = decide(p, exit_failure(1), restarts=3, history=history, now=NOW)
    assert d.action == A.RESTART_GROUP_IN_PLACE
    assert d.not_before == datetime(2025, 1, 2, 3, 4, 40, tzinfo=UTC)


def test_decide_is_pure() -> None:
    p = policy(on_codes("RestartPodInPlace", "In", [42]), escalation={"after": 2})
    history = uses((A.RESTART_POD_IN_PLACE, 30), (A.RESTART_POD_IN_PLACE, 20))
    before = [h.model_copy() for h in history]
    first = decide(p, exit_failure(42), restarts=1, history=history, now=NOW)
    second = decide(p, exit_failure(42), restarts=1, history=history, now=NOW)
    assert first == second
    assert history == before
