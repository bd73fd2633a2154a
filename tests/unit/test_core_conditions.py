"""core.conditions: setting a condition, and the events a change of conditions is worth."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from podgroup_operator.api.models import Condition, ConditionStatus
from podgroup_operator.core.conditions import (
    GANG_SCHEDULED,
    PODS_CREATED,
    PROGRESS_REASONS,
    READY,
    Event,
    set_condition,
    transition_events,
)

T0 = datetime(2025, 1, 2, 3, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def cond(type: str, status: bool | None, reason: str, message: str = "", at: datetime = T0) -> Condition:
    value = {True: ConditionStatus.TRUE, False: ConditionStatus.FALSE, None: ConditionStatus.UNKNOWN}[status]
    return Condition(type=type, status=value, reason=reason, message=message, last_transition_time=at)


def set_(
    conditions: list[Condition], type: str, status: bool, reason: str = "R", message: str = "m"
) -> list[Condition]:
    return set_condition(
        conditions, type=type, status=status, reason=reason, message=message, generation=5, now=T1
    )


# --- set_condition ---------------------------------------------------------------------------


def test_set_appends_a_new_condition() -> None:
    existing = [cond("GangAdmitted", True, "Admitted")]
    result = set_(existing, READY, False, "MembersNotReady", "0/3 members ready")
    assert [c.type for c in result] == ["GangAdmitted", READY]
    assert result[1] == Condition(
        type=READY,
        status=ConditionStatus.FALSE,
        reason="MembersNotReady",
        message="0/3 members ready",
        last_transition_time=T1,
        observed_generation=5,
    )


def test_set_replaces_in_place() -> None:
    existing = [cond(PODS_CREATED, False, "MembersMissing"), cond(READY, False, "MembersNotReady")]
    result = set_(existing, PODS_CREATED, True, "AllMembersCreated")
    assert [(c.type, c.reason) for c in result] == [
        (PODS_CREATED, "AllMembersCreated"),
        (READY, "MembersNotReady"),
    ]
    assert result[1] is existing[1]


# (previous status or None when absent, new status) -> transition time
@pytest.mark.parametrize(
    ("previous", "status", "since"),
    [
        pytest.param(None, True, T1, id="new-true"),
        pytest.param(None, False, T1, id="new-false"),
        pytest.param(True, True, T0, id="true-stays-true"),
        pytest.param(False, False, T0, id="false-stays-false"),
        pytest.param(False, True, T1, id="false-to-true"),
        pytest.param(True, False, T1, id="true-to-false"),
    ],
)
def test_set_transition_time(previous: bool | None, status: bool, since: datetime) -> None:
    existing = [] if previous is None else [cond(READY, previous, "Old", "old")]
    (result,) = set_(existing, READY, status, "New", "new")
    assert result.last_transition_time == since
    assert (result.reason, result.message, result.observed_generation) == ("New", "new", 5)


def test_set_from_unknown_moves_transition_time() -> None:
    (result,) = set_([cond(READY, None, "Unknown")], READY, False)
    assert result.last_transition_time == T1


def test_set_does_not_mutate_its_input() -> None:
    existing = [cond(READY, False, "MembersNotReady")]
    before = copy.deepcopy(existing)
    set_(existing, READY, True, "AllMembersReady")
    set_(existing, PODS_CREATED, True, "AllMembersCreated")
    assert existing == before


# --- transition_events -----------------------------------------------------------------------

CREATE_FAILED = cond(PODS_CREATED, False, "CreateFailed", "pod train-worker-1: forbidden")
MISSING = cond(PODS_CREATED, False, "MembersMissing", "2/3 member pods exist")
CREATED = cond(PODS_CREATED, True, "AllMembersCreated", "3/3 member pods exist")
NOT_READY = cond(READY, False, "MembersNotReady", "2/3 members ready")
READY_TRUE = cond(READY, True, "AllMembersReady", "3/3 members ready")

GANG_WAITING = cond(GANG_SCHEDULED, False, "Waiting", "waiting for room for 3 pods at once")
GANG_ADMITTED = cond(GANG_SCHEDULED, True, "Admitted", "the gang's minimum of 3 pods was released")

# (conditions stored before, conditions computed now, events to post)
EVENT_CASES = [
    # nothing to say
    pytest.param([], [], [], id="no-conditions"),
    pytest.param([MISSING, NOT_READY], [MISSING, NOT_READY], [], id="nothing-changed"),
    pytest.param(
        [CREATED, NOT_READY],
        [CREATED, NOT_READY.model_copy(update={"last_transition_time": T1, "observed_generation": 9})],
        [],
        id="only-time-and-generation-changed",
    ),
    pytest.param([CREATED, READY_TRUE], [CREATED], [], id="condition-removed"),
    # progress is no news: first seen, counts moving, turning True on the way up
    pytest.param([], [MISSING, NOT_READY], [], id="first-seen-progress-reasons"),
    pytest.param([], [CREATED, READY_TRUE], [], id="first-seen-true"),
    pytest.param(
        [MISSING, NOT_READY],
        [
            MISSING.model_copy(update={"message": "1/3 member pods exist"}),
            NOT_READY.model_copy(update={"message": "0/3 members ready"}),
        ],
        [],
        id="only-a-progress-count-moved",
    ),
    pytest.param([MISSING, NOT_READY], [CREATED, NOT_READY], [], id="progress-to-true"),
    pytest.param([CREATED, NOT_READY], [CREATED, READY_TRUE], [], id="ready-progress-to-true"),
    # failures: Warning when they appear or change
    pytest.param(
        [],
        [CREATE_FAILED, NOT_READY],
        [Event("Warning", "CreateFailed", "pod train-worker-1: forbidden")],
        id="first-seen-failure",
    ),
    pytest.param(
        [],
        [cond("Probed", None, "Probing", "unknown")],
        [Event("Warning", "Probing", "unknown")],
        id="first-seen-unknown-is-failing",
    ),
    pytest.param(
        [MISSING, NOT_READY],
        [CREATE_FAILED, NOT_READY],
        [Event("Warning", "CreateFailed", "pod train-worker-1: forbidden")],
        id="progress-to-failure",
    ),
    pytest.param(
        [CREATE_FAILED],
        [CREATE_FAILED.model_copy(update={"message": "pod train-worker-1: quota"})],
        [Event("Warning", "CreateFailed", "pod train-worker-1: quota")],
        id="failure-message-changed",
    ),
    pytest.param([CREATE_FAILED], [MISSING], [], id="failure-back-to-progress"),
    # degrading: a True condition turning False is a Warning, even with a progress reason
    pytest.param(
        [CREATED, READY_TRUE],
        [CREATED, NOT_READY],
        [Event("Warning", "MembersNotReady", "2/3 members ready")],
        id="true-to-progress-false",
    ),
    pytest.param(
        [CREATED],
        [CREATE_FAILED],
        [Event("Warning", "CreateFailed", "pod train-worker-1: forbidden")],
        id="true-to-failure",
    ),
    # flips to True that are news: recovery from a failure, the gang's admission
    pytest.param(
        [CREATE_FAILED, NOT_READY],
        [CREATED, NOT_READY],
        [Event("Normal", "AllMembersCreated", "3/3 member pods exist")],
        id="recovery-from-failure",
    ),
    pytest.param(
        [CREATE_FAILED, NOT_READY],
        [CREATED, READY_TRUE],
        [Event("Normal", "AllMembersCreated", "3/3 member pods exist")],
        id="recovery-and-progress-in-one-step",
    ),
    pytest.param(
        [GANG_WAITING],
        [GANG_ADMITTED],
        [Event("Normal", "Admitted", "the gang's minimum of 3 pods was released")],
        id="gang-admitted",
    ),
    pytest.param(
        [],
        [GANG_ADMITTED],
        [Event("Normal", "Admitted", "the gang's minimum of 3 pods was released")],
        id="gang-admitted-first-seen",
    ),
    pytest.param([GANG_ADMITTED], [GANG_ADMITTED], [], id="gang-admitted-already"),
    pytest.param(
        [GANG_ADMITTED, CREATE_FAILED],
        [GANG_ADMITTED, CREATED],
        [Event("Normal", "AllMembersCreated", "3/3 member pods exist")],
        id="only-the-changed-condition",
    ),
    pytest.param(
        [CREATED, GANG_WAITING],
        [CREATE_FAILED, GANG_ADMITTED],
        [
            Event("Warning", "CreateFailed", "pod train-worker-1: forbidden"),
            Event("Normal", "Admitted", "the gang's minimum of 3 pods was released"),
        ],
        id="several-in-condition-order",
    ),
]


@pytest.mark.parametrize(("before", "after", "events"), EVENT_CASES)
def test_transition_events(before: list[Condition], after: list[Condition], events: list[Event]) -> None:
    assert transition_events(before, after) == events


@pytest.mark.parametrize("reason", sorted(PROGRESS_REASONS))
def test_first_seen_progress_reason_is_no_news(reason: str) -> None:
    assert transition_events([], [cond("Some", False, reason, "0/3")]) == []


def test_repeated_reconcile_posts_an_event_once() -> None:
    """The stored conditions are the memory: applying the same change twice is news once."""
    before = [CREATE_FAILED, NOT_READY]
    after = [CREATED, NOT_READY]
    assert len(transition_events(before, after)) == 1
    assert transition_events(after, after) == []
