"""Load, short: PodGroups created and deleted continuously (bench/load.py, which runs it for
minutes and prints the figures). Every group converges, everything deleted goes, the operator
stays up with its memory bounded, and its API requests do not fail.
PGO_LOAD_MINUTES (default 1), PGO_LOAD_LIVE groups alive at once (default 60)."""

from __future__ import annotations

import os

from bench.load import run
from kubernetes import client


def test_continuous_create_and_delete_converges_with_bounded_memory(
    api: client.ApiClient, crd_installed: None
) -> None:
    minutes = float(os.environ.get("PGO_LOAD_MINUTES") or 1)
    live = int(os.environ.get("PGO_LOAD_LIVE") or 60)
    result = run(minutes=minutes, live=live, rate=2, size=3, nodes=2)
    print("\n" + "\n".join(result.lines()))
    assert result.operator_exited is None, "the operator exited under load"
    assert result.created >= minutes * 60
    assert result.never_converged == []
    assert result.converged == result.created
    assert result.pods_left == 0
    # Failures the operator had to retry: none expected on a healthy cluster; a few 429s from a
    # busy shared API server are tolerated.
    assert result.api_errors <= 0.02 * result.api_total, result.api_requests
    # Bounded: the churn's last third holds no more than its middle third, within noise.
    middle, last, _ = result.rss_windows()
    assert last <= middle * 1.25 + 20, [s.rss_mib for s in result.samples]
