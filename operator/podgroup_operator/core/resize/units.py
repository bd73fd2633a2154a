"""The resources resize sizes, and the clock arithmetic its records use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CPU = "cpu"
MEMORY = "memory"
RESOURCES = (CPU, MEMORY)
MiB = 2**20
# The container name under which pod-level usage is kept (no container can have this name).
POD_LEVEL = ""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(t: datetime) -> float:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - EPOCH).total_seconds()


def from_epoch(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)
