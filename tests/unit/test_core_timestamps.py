"""core.timestamps: the one reader of Kubernetes times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podgroup_operator.core.timestamps import parse_timestamp

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-02T03:04:05Z", T),
        ("2026-01-02T03:04:05+00:00", T),
        ("2026-01-02T04:04:05+01:00", T),
        ("2026-01-02T03:04:05", T),  # no offset: UTC, never naive
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(raw: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(raw) == expected
