"""Exponential backoff, doubling from a base up to a cap: the one formula behind gang
rollbacks, failure-policy pacing, the watch guard's re-resolution and the work queue's retries."""

from __future__ import annotations


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """The delay before attempt `attempt` (1 for the first: `base`), doubling, at most `cap`."""
    return min(cap, base * 2 ** min(max(0, attempt - 1), 62))  # 2**1024 overflows a float
