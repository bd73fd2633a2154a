"""metrics.k8s.io PodMetrics, read into usage samples: the one reader of that API's objects
(k8s/usage.py fetches them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resize.usage import UsageSample
from podgroup_operator.core.timestamps import parse_timestamp

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration_seconds(duration: object) -> float | None:
    """A metrics window as Go prints durations ("10s", "9.995s", "1m0s"); None if unreadable."""
    if not isinstance(duration, str) or not duration:
        return None
    total, number = 0.0, ""
    i = 0
    while i < len(duration):
        ch = duration[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if duration.startswith("ms", i) else ch
        if unit not in _UNITS or not number:
            return None
        total += float(number) * _UNITS[unit]
        number = ""
        i += len(unit)
    return total if not number and total > 0 else None


def usage_samples(items: Iterable[Mapping[str, Any]]) -> list[UsageSample]:
    """One sample per container of each PodMetrics; an item without a readable timestamp is
    skipped, and a resource it does not report is None."""
    out = []
    for item in items:
        pod = (item.get("metadata") or {}).get("name", "")
        time = parse_timestamp(item.get("timestamp"))
        if time is None:
            continue
        window = go_duration_seconds(item.get("window"))
        for c in item.get("containers") or []:
            usage = c.get("usage") or {}
            out.append(
                UsageSample(
                    pod=pod,
                    container=c.get("name", ""),
                    time=time,
                    cpu_cores=float(parse_quantity(usage["cpu"])) if "cpu" in usage else None,
                    memory_bytes=float(parse_quantity(usage["memory"])) if "memory" in usage else None,
                    window_seconds=window,
                )
            )
    return out
