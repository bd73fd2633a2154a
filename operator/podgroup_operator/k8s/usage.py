"""Where usage comes from: a small interface, and its metrics.k8s.io implementation.

Another source (Prometheus, the kubelet's own /metrics/resource) only needs `samples`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from podgroup_operator.core.labels import GROUP_LABEL
from podgroup_operator.core.resize.pod_metrics import usage_samples
from podgroup_operator.core.resize.usage import UsageSample

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
        return usage_samples(listing.get("items") or [])
