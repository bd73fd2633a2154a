"""Helpers for e2e tests: the cluster's kubectl and API clients, and polling."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def versions() -> dict[str, str]:
    """hack/versions.env as a dict, as the scripts see it: a `NAME=${NAME:-default}` line is the
    environment's NAME when set (e.g. KUBE_VERSION=v1.35.4), else its default."""
    lines = (REPO / "hack/versions.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    out: dict[str, str] = {}
    for name, value in pairs:
        m = re.fullmatch(r"\$\{(\w+):-(\S+)\}", value)
        out[name] = (os.environ.get(m[1]) or m[2]) if m else value
    return out


def kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or str(REPO / ".cluster/kubeconfig")


def kubectl_path() -> str:
    cache = Path(os.environ.get("PGO_CACHE") or Path.home() / ".cache/podgroup-operator")
    pinned = cache / "bin" / f"kubectl-{versions()['KUBE_VERSION']}"
    return str(pinned) if pinned.exists() else "kubectl"


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig(), *args],
        input=input,
        text=True,
        capture_output=True,
        check=check,
        timeout=120,
    )


def kubectl_json(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def eventually(
    probe: Callable[[], T | None], timeout: float = 120, interval: float = 0.5, what: str = "condition"
) -> T:
    """Poll until probe returns a truthy value; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")
