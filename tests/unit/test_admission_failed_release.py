"""A gang whose release partly failed (a 429, a refusal) keeps only the members that were
released reserved, so the planner takes the gang up again instead of waiting on it forever."""

from __future__ import annotations

from podgroup_operator.handlers.admission import forget_failed_releases

KEY = ("ns", "g")


def test_members_not_released_are_no_longer_reserved() -> None:
    in_flight = {KEY: {"g-w-0": "n1", "g-w-1": "n2", "g-w-2": "n3"}}
    forget_failed_releases(in_flight, KEY, {"g-w-0": "n1"})
    assert in_flight == {KEY: {"g-w-0": "n1"}}


def test_a_gang_with_no_member_released_is_planned_again() -> None:
    in_flight = {KEY: {"g-w-0": "n1"}, ("ns", "other"): {"other-w-0": "n2"}}
    forget_failed_releases(in_flight, KEY, {})
    assert in_flight == {("ns", "other"): {"other-w-0": "n2"}}
