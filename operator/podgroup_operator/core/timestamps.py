"""The one reader of the times Kubernetes writes (RFC 3339), in pod status and annotations."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(raw: str | None) -> datetime | None:
    """None for a missing or malformed time, rather than an error: written by any hand."""
    try:
        parsed = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    # Kubernetes times are UTC; a time written without an offset must not be naive.
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed
