"""Pods for the real kubelet node real-0 of the local cluster (see hack/node/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO

REAL_NODE = "real-0"
TOOLS_IMAGE = "registry.local/tools:1.0"
ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {"podgroup.dev/node-kind": "real"},
    "tolerations": [{"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
}


def unavailable_reason() -> str | None:
    """Why the harness could not start the real node, if it said so."""
    marker = REPO / ".cluster/node/unavailable"
    return marker.read_text().strip() if marker.exists() else None


def container_cgroup(controller: str, pod: Any, container_id: str) -> Path:
    """The container's cgroup v1 folder under the kubelet's own subtree."""
    cid = container_id.split("://", 1)[-1]
    root = Path("/sys/fs/cgroup") / controller / "pgo-kubelet/kubepods"
    matches = [p for p in root.glob(f"**/pod{pod.metadata.uid}/{cid}") if p.is_dir()]
    if not matches:
        raise AssertionError(
            f"no {controller} cgroup for container {cid} of pod {pod.metadata.name} under {root}"
        )
    return matches[0]
