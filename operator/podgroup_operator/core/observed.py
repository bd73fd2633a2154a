"""A compact, pure view of a member pod, read from the pod body the API server sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podgroup_operator.core.labels import GROUP_LABEL, INDEX_LABEL, ROLE_LABEL


@dataclass(frozen=True)
class ObservedPod:
    name: str
    uid: str
    role: str
    index: int | None  # None when the index label is missing or malformed
    phase: str
    node_name: str | None
    ready: bool
    deleting: bool
    scheduling_gates: tuple[str, ...]
    restart_count: int
    owner_uid: str | None  # uid of the controlling owner, if any

    @property
    def scheduled(self) -> bool:
        return bool(self.node_name)

    @property
    def active(self) -> bool:
        """Counts as a live member: not terminating and not finished."""
        return not self.deleting and self.phase not in ("Succeeded", "Failed")


def _index(labels: Mapping[str, str]) -> int | None:
    raw = labels.get(INDEX_LABEL, "")
    return int(raw) if raw.isdigit() else None


def _controller_uid(metadata: Mapping[str, Any]) -> str | None:
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod:
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = metadata.get("labels") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or [])
    return ObservedPod(
        name=metadata.get("name", ""),
        uid=metadata.get("uid", ""),
        role=labels.get(ROLE_LABEL, ""),
        index=_index(labels),
        phase=status.get("phase") or "Pending",
        node_name=spec.get("nodeName") or None,
        ready=ready,
        deleting=bool(metadata.get("deletionTimestamp")),
        scheduling_gates=tuple(g.get("name", "") for g in spec.get("schedulingGates") or []),
        restart_count=restarts,
        owner_uid=_controller_uid(metadata),
    )


def group_of(pod: Mapping[str, Any]) -> str | None:
    """Name of the PodGroup a pod belongs to, from its label."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(GROUP_LABEL)
