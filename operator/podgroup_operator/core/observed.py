"""A compact, pure view of a member pod, read from the pod body the API server sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.labels import (
    ADMITTED_AT_ANNOTATION,
    GANG_GATE,
    GROUP_LABEL,
    INDEX_LABEL,
    PLANNED_NODE_ANNOTATION,
    ROLE_LABEL,
)
from podgroup_operator.core.placement import Constraints, constraints_of
from podgroup_operator.core.resources import Resources, pod_requests

TERMINAL_PHASES = ("Succeeded", "Failed")


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
    requests: Resources = field(default_factory=dict)
    constraints: Constraints = field(default_factory=lambda: Constraints({}, (), ()))
    priority: int = 0
    admitted_at: datetime | None = None
    planned_node: str | None = None

    @property
    def scheduled(self) -> bool:
        return bool(self.node_name)

    @property
    def active(self) -> bool:
        """Counts as a live member: not terminating and not finished."""
        return not self.deleting and self.phase not in TERMINAL_PHASES

    @property
    def gang_gated(self) -> bool:
        return GANG_GATE in self.scheduling_gates

    @property
    def released(self) -> bool:
        """Active and let through to kube-scheduler: bound, or holding a reservation."""
        return self.active and not self.gang_gated


def _index(labels: Mapping[str, str]) -> int | None:
    raw = labels.get(INDEX_LABEL, "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _controller_uid(metadata: Mapping[str, Any]) -> str | None:
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _timestamp(raw: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    # Kubernetes times are UTC; a time written without an offset must not be naive.
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def _requests_or_empty(spec: Mapping[str, Any]) -> Resources:
    try:
        return pod_requests(spec)
    except ValueError:
        return {}  # the API server validates quantities; this only guards odd objects


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
        requests=_requests_or_empty(spec),
        constraints=constraints_of(spec),
        priority=int(spec.get("priority") or 0),
        admitted_at=_timestamp((metadata.get("annotations") or {}).get(ADMITTED_AT_ANNOTATION)),
        planned_node=(metadata.get("annotations") or {}).get(PLANNED_NODE_ANNOTATION),
    )


def node_usage(pod: Mapping[str, Any]) -> tuple[str, Resources] | None:
    """The node whose capacity the pod holds and what it requests there, if any: a bound pod
    holds its node until it finishes or is gone; a released but unbound member holds the node
    it was planned onto (a reservation)."""
    status = pod.get("status") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return None
    spec = pod.get("spec") or {}
    node = spec.get("nodeName") or None
    if node is None and not spec.get("schedulingGates"):
        node = ((pod.get("metadata") or {}).get("annotations") or {}).get(PLANNED_NODE_ANNOTATION)
    return (node, _requests_or_empty(spec)) if node else None


def group_of(pod: Mapping[str, Any]) -> str | None:
    """Name of the PodGroup a pod belongs to, from its label."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(GROUP_LABEL)


@dataclass(frozen=True)
class ObservedGroup:
    """A PodGroup as observed, parsed once per watch event rather than once per use."""

    namespace: str
    name: str
    uid: str
    generation: int | None
    created: datetime
    deleting: bool
    spec: PodGroupSpec | None  # None when the stored spec does not parse (see spec_error)
    spec_error: str | None
    status: PodGroupStatus | None


def observe_group(body: Mapping[str, Any]) -> ObservedGroup:
    meta = body.get("metadata") or {}
    spec: PodGroupSpec | None = None
    error = None
    try:
        spec = PodGroupSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        error = str(exc)
    try:
        status = PodGroupStatus.model_validate(body["status"]) if body.get("status") else None
    except ValidationError:
        status = None  # written by an older or foreign hand: recomputed from scratch
    return ObservedGroup(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=meta.get("generation"),
        created=_timestamp(meta.get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC),
        deleting=bool(meta.get("deletionTimestamp")),
        spec=spec,
        spec_error=error,
        status=status,
    )
