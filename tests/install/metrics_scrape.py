"""Reading the deployed operator's /metrics the two ways Prometheus would reach it."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cluster import eventually, kubectl
from tests.install.conftest import NAMESPACE

SERVICE_PROXY = f"/api/v1/namespaces/{NAMESPACE}/services/http:podgroup-operator-metrics:8080/proxy/metrics"


def through_service() -> str:
    """Through the metrics Service, via the API server's service proxy (one ready endpoint per
    request; every replica serves /metrics)."""
    return eventually(
        lambda: (r := kubectl("get", "--raw", SERVICE_PROXY, check=False)).returncode == 0 and r.stdout,
        timeout=120,
        what="/metrics through the Service",
    )


def from_pod_ip(pod_ip: str) -> str:
    """Straight from the pod, as a scraper on the pod network (the host routes 10.244.0.0/24)."""
    with urllib.request.urlopen(f"http://{pod_ip}:8080/metrics", timeout=10) as response:
        text: str = response.read().decode()
        return text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}"""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
