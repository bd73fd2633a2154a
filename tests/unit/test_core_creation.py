"""core.creation: a reconcile creates a bounded batch of members, so groups take turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from podgroup_operator.core.creation import creation_batch
from podgroup_operator.core.members import Member

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def members(n: int) -> list[Member]:
    return [Member("w", i, f"g-w-{i}") for i in range(n)]


@pytest.mark.parametrize(
    ("missing", "limit", "created", "more"),
    [(0, 64, 0, False), (3, 64, 3, False), (64, 64, 64, False), (65, 64, 64, True), (2000, 64, 64, True)],
)
def test_a_batch_is_at_most_the_limit(missing: int, limit: int, created: int, more: bool) -> None:
    batch = creation_batch(members(missing), set(), {}, now=NOW, limit=limit)
    assert len(batch.create) == created
    assert batch.more is more
    assert [m.index for m in batch.create] == list(range(created))  # in index order


def test_pods_created_but_not_yet_seen_are_not_created_again() -> None:
    pending = {f"g-w-{i}": NOW for i in range(64)}
    batch = creation_batch(members(100), set(), pending, now=NOW + timedelta(seconds=1), limit=64)
    assert [m.index for m in batch.create] == list(range(64, 100))
    assert not batch.more
    assert set(batch.pending) == set(pending)


def test_pods_the_index_shows_are_forgotten() -> None:
    pending = {"g-w-0": NOW, "g-w-1": NOW}
    batch = creation_batch(members(2)[1:], {"g-w-0"}, pending, now=NOW, limit=64)
    assert batch.pending == {"g-w-1": NOW}
    assert batch.create == ()


def test_a_pod_never_seen_is_created_again_after_the_ttl() -> None:
    # Deleted before the watch delivered it: after the ttl it counts as missing again.
    pending = {"g-w-0": NOW}
    batch = creation_batch(members(1), set(), pending, now=NOW + timedelta(seconds=31), limit=64)
    assert [m.name for m in batch.create] == ["g-w-0"]
    assert batch.pending == {}
