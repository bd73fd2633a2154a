"""A gang whose release partly failed (a 429, a refusal) keeps only the members that were
released reserved, so the planner takes the gang up again instead of waiting on it forever."""

from __future__ import annotations

from podgroup_operator.handlers.admission import forget_failed_releases
from podgroup_operator.handlers.memory import OperatorMemory

KEY = ("ns", "g")


def reserved(memory: OperatorMemory) -> dict:
    return {key: m.reserved for key, m in memory.groups() if m.reserved}


def test_members_not_released_are_no_longer_reserved() -> None:
    memory = OperatorMemory()
    memory.of(KEY, "uid-g").reserved = {"g-w-0": "n1", "g-w-1": "n2", "g-w-2": "n3"}
    forget_failed_releases(memory.of(KEY, "uid-g"), {"g-w-0": "n1"})
    assert reserved(memory) == {KEY: {"g-w-0": "n1"}}


def test_a_gang_with_no_member_released_is_planned_again() -> None:
    memory = OperatorMemory()
    memory.of(KEY, "uid-g").reserved = {"g-w-0": "n1"}
    memory.of(("ns", "other"), "uid-other").reserved = {"other-w-0": "n2"}
    forget_failed_releases(memory.of(KEY, "uid-g"), {})
    assert reserved(memory) == {("ns", "other"): {"other-w-0": "n2"}}
