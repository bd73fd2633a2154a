"""Shared pieces of the benchmarks: the cluster, the operator as a measured process, metrics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config

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


class MeasuredOperator:
    """The operator as a child process, with its CPU time and peak RSS read from /proc."""

    def __init__(
        self,
        metrics_port: int,
        env: dict[str, str] | None = None,
        namespace: str | None = None,
        log_name: str = "operator-bench",
        base_env: dict[str, str] | None = None,
    ) -> None:
        """namespace: watch only it (the cluster may be shared); base_env: instead of os.environ."""
        self.metrics_port = metrics_port
        self.log = open(REPO / f".cluster/logs/{log_name}.log", "ab")  # noqa: SIM115
        scope = ["--namespace", namespace] if namespace else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podgroup_operator", "run", *scope],
            env={
                **(os.environ if base_env is None else base_env),
                "PGO_METRICS_PORT": str(metrics_port),
                **(env or {}),
                "KUBECONFIG": os.environ.get("KUBECONFIG") or str(REPO / ".cluster/kubeconfig"),
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def peak_rss_mib(self) -> float:
        return self._status_mib("VmHWM:")

    def rss_mib(self) -> float:
        return self._status_mib("VmRSS:")

    def _status_mib(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return float("nan")

    def metrics(self) -> dict[str, float]:
        import urllib.request

        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        )
        return parse_metrics(text)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


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
