"""Shared pieces of the benchmarks: the cluster, the operator as a measured process, metrics."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config
from tests.operator_process import OperatorProcess

REPO = Path(__file__).resolve().parents[1]


def api() -> client.ApiClient:
    path = os.environ.get("KUBECONFIG") or str(REPO / ".cluster/kubeconfig")
    return config.new_client_from_config(config_file=path)


def wait_until(probe: Callable[[], bool], timeout: float, interval: float = 0.2, what: str = "") -> float:
    start = time.monotonic()
    while not probe():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def parallel(fn: Callable[[Any], Any], items: list[Any], workers: int = 16) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


class MeasuredOperator(OperatorProcess):
    """The operator as the benchmarks run it: started at once on a fixed port, with the
    production defaults (not the tests' faster settings), its CPU time and memory read from
    /proc (tests/operator_process.py) and its /metrics parsed."""

    def __init__(
        self,
        metrics_port: int,
        env: dict[str, str] | None = None,
        namespace: str | None = None,
        log_name: str = "operator-bench",
        base_env: dict[str, str] | None = None,
    ) -> None:
        """namespace: watch only it (the cluster may be shared); base_env: instead of os.environ."""
        super().__init__(
            REPO / f".cluster/logs/{log_name}.log",
            args=["--namespace", namespace] if namespace else [],
            env=env,
            metrics_port=metrics_port,
            base_env=base_env,
        )
        self.start()

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.metrics_text())


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def histogram_quantile(metrics: dict[str, float], name: str, q: float) -> float:
    """Upper bound of the bucket holding the q-quantile (as Prometheus' histogram_quantile, coarse)."""
    buckets = sorted(
        (float(k.split('le="')[1].split('"')[0]), v)
        for k, v in metrics.items()
        if k.startswith(f"{name}_bucket")
    )
    total = metrics.get(f"{name}_count", 0)
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return float("inf")


def kubectl_path() -> str:
    versions = dict(
        line.split("=", 1)
        for line in (REPO / "hack/versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    cache = Path(os.environ.get("PGO_CACHE") or Path.home() / ".cache/podgroup-operator")
    pinned = cache / "bin" / f"kubectl-{versions['KUBE_VERSION']}"
    return str(pinned) if pinned.exists() else "kubectl"


def apiserver_429s() -> float:
    """Requests the API server answered with 429 Too Many Requests, from its own metrics."""
    kubeconfig = os.environ.get("KUBECONFIG") or str(REPO / ".cluster/kubeconfig")
    text = subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig, "get", "--raw", "/metrics"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(
        v
        for k, v in parse_metrics(text).items()
        if k.startswith("apiserver_request_total{") and 'code="429"' in k
    )
