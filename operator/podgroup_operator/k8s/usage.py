"""Where usage comes from: a small interface, and its metrics.k8s.io implementation.

Another source (Prometheus, the kubelet's own /metrics/resource) only needs `samples`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from podgroup_operator.core.labels import GROUP_LABEL
from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resize.usage import UsageSample
from podgroup_operator.core.timestamps import parse_timestamp

logger = logging.getLogger(__name__)


class UsageSource(Protocol):
    async def samples(self, namespace: str, group: str) -> list[UsageSample]:
        """The latest per-container usage of the group's member pods."""
        ...


class MetricsServerSource:
    """metrics.k8s.io/v1beta1 PodMetrics, as served by metrics-server."""

    def __init__(self, api: client.ApiClient) -> None:
        self._custom = client.CustomObjectsApi(api)

    async def samples(self, namespace: str, group: str) -> list[UsageSample]:
        try:
            listing = await self._custom.list_namespaced_custom_object(
                "metrics.k8s.io", "v1beta1", namespace, "pods", label_selector=f"{GROUP_LABEL}={group}"
            )
        except ApiException as exc:
            # No metrics API (not installed, or not ready yet): no samples, not an error loop.
            logger.debug("no pod metrics for %s/%s: %s", namespace, group, exc.reason)
            return []
        out = []
        for item in listing.get("items") or []:
            pod = (item.get("metadata") or {}).get("name", "")
            time = parse_timestamp(item.get("timestamp"))
            if time is None:
                continue
            window = _seconds(item.get("window"))
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


def _seconds(duration: object) -> float | None:
    """A metrics window as Go prints durations ("10s", "9.995s", "1m0s"); None if unreadable."""
    if not isinstance(duration, str) or not duration:
        return None
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    i = 0
    while i < len(duration):
        ch = duration[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if duration.startswith("ms", i) else ch
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    return total if not number and total > 0 else None
