"""Leader election's pure parts: when a lease may be taken, the timings' safety margins, and
how flags and environment choose the settings. The elector against a real API server is
tested in tests/reliability/test_ha.py."""

from __future__ import annotations

import argparse

import pytest

from podgroup_operator.cli import leader_election
from podgroup_operator.runtime.leader import LeaseRecord, LeaseTimings, lease_is_free, micro_time


def record(holder: str, duration: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, duration, 3, "2026-01-01T00:00:00.000000Z", "42")


def test_a_lease_nobody_holds_or_we_hold_is_free() -> None:
    assert lease_is_free(record(""), "me", unchanged_since=100.0, now=100.0)
    assert lease_is_free(record("me"), "me", unchanged_since=100.0, now=100.0)


def test_another_holders_lease_is_free_only_after_its_duration_on_our_clock() -> None:
    # Timed from when we first saw this version, never from the holder's renewTime (other clock).
    assert not lease_is_free(record("other", 15), "me", unchanged_since=100.0, now=114.9)
    assert lease_is_free(record("other", 15), "me", unchanged_since=100.0, now=115.0)
    # A released lease says duration 1, but a holder name still counts until then.
    assert not lease_is_free(record("other", 1), "me", unchanged_since=100.0, now=100.5)


@pytest.mark.parametrize(
    "timings",
    [(15, 10, 2), (6, 4, 1), (4, 3, 1)],
)
def test_valid_timings(timings: tuple[float, float, float]) -> None:
    LeaseTimings(*timings)


@pytest.mark.parametrize(
    "timings",
    [
        (10, 10, 2),  # the leader must stop before anyone may take over: renew < duration
        (15, 2, 2),  # a renew deadline must allow more than one retry
        (15, 10, 0),
        (5, 10, 2),
    ],
)
def test_unsafe_timings_are_refused(timings: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="leader election timings"):
        LeaseTimings(*timings)


def test_micro_time_is_utc_with_microseconds() -> None:
    from datetime import datetime, timedelta, timezone

    local = datetime(2026, 1, 1, 2, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert micro_time(local) == "2026-01-01T00:00:00.000005Z"


def parse(*argv: str) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=None)
    for flag in ("lease-name", "lease-namespace"):
        parser.add_argument(f"--leader-elect-{flag}")
    for flag in ("lease-duration", "renew-deadline", "retry-period"):
        parser.add_argument(f"--leader-elect-{flag}", type=float)
    return parser, parser.parse_args(argv)


def test_leader_election_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGO_LEADER_ELECT", raising=False)
    assert leader_election(*parse()) is None
    monkeypatch.setenv("PGO_LEADER_ELECT", "true")
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert leader_election(*parse("--no-leader-elect")) is None
    config = leader_election(*parse())
    assert config is not None and config.lease_namespace == "ops" and config.lease_name == "podgroup-operator"


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGO_LEADER_ELECT_LEASE_DURATION", "30")
    monkeypatch.setenv("PGO_LEADER_ELECT_LEASE_NAMESPACE", "from-env")
    config = leader_election(
        *parse("--leader-elect", "--leader-elect-lease-namespace=ns", "--leader-elect-renew-deadline=20")
    )
    assert config is not None
    assert (config.lease_namespace, config.lease_duration, config.renew_deadline) == ("ns", 30, 20)


def test_outside_a_pod_the_lease_namespace_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POD_NAMESPACE", "PGO_LEADER_ELECT_LEASE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("podgroup_operator.config.SERVICE_ACCOUNT_NAMESPACE", "/nonexistent")
    with pytest.raises(SystemExit):
        leader_election(*parse("--leader-elect"))
