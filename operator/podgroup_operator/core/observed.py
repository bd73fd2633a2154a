"""A compact, pure view of a member pod, read from the pod body the API server sent."""

from __future__ import annotations

import json
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
    HANDLED_FAILURES_ANNOTATION,
    INDEX_LABEL,
    PLANNED_NODE_ANNOTATION,
    RECREATED_FOR_ANNOTATION,
    RESTART_GENERATION_ANNOTATION,
    ROLE_LABEL,
    TOPOLOGY_DOMAIN_ANNOTATION,
)
from podgroup_operator.core.placement import Constraints, constraints_of
from podgroup_operator.core.resize.pod_resources import PodResources, read_pod_resources
from podgroup_operator.core.resources import Resources, pod_requests
from podgroup_operator.core.timestamps import parse_timestamp

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Termination:
    exit_code: int
    reason: str
    finished_at: datetime | None

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or self.reason in ("OOMKilled", "ContainerCannotRun", "StartError")


@dataclass(frozen=True)
class ObservedContainer:
    name: str
    image: str  # as the pod spec names it now
    image_id: str  # what the runtime resolved it to
    pull_policy: str  # imagePullPolicy, as the API server defaulted it
    restart_count: int
    ready: bool
    running: bool
    last_termination: Termination | None  # the previous run's end (lastState.terminated)
    termination: Termination | None  # the current state, when terminated


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
    topology_domain: str | None = None  # as the planner chose it at release
    containers: tuple[ObservedContainer, ...] = ()
    reason: str | None = None  # status.reason, e.g. Evicted, DeadlineExceeded
    conditions: tuple[tuple[str, str], ...] = ()  # (type, status)
    restart_policy: str = "Always"
    active_deadline_seconds: int | None = None  # FailGroup stops members through it
    created: datetime | None = None  # metadata.creationTimestamp
    recreated_for: str | None = None  # the RecreateGroup decision it was created after
    restart_generation: int = 0
    handled: Mapping[str, int] = field(default_factory=dict)  # failure keys already acted on
    resources: PodResources = field(default_factory=PodResources)  # what resize reads
    # The pod as the API server sent it, for the decisions that read more of it.
    body: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

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


def _non_negative_int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


def _controller_uid(metadata: Mapping[str, Any]) -> str | None:
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _requests_or_empty(spec: Mapping[str, Any]) -> Resources:
    try:
        return pod_requests(spec)
    except ValueError:
        return {}  # the API server validates quantities; this only guards odd objects


def _termination(state: Mapping[str, Any] | None) -> Termination | None:
    terminated = (state or {}).get("terminated")
    if not terminated:
        return None
    return Termination(
        exit_code=int(terminated.get("exitCode") or 0),
        reason=terminated.get("reason") or "",
        finished_at=parse_timestamp(terminated.get("finishedAt")),
    )


def _containers(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[ObservedContainer, ...]:
    statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
    out = []
    for c in spec.get("containers") or []:
        cs = statuses.get(c.get("name"), {})
        out.append(
            ObservedContainer(
                name=c.get("name", ""),
                image=c.get("image", ""),
                image_id=cs.get("imageID") or "",
                pull_policy=c.get("imagePullPolicy") or "IfNotPresent",
                restart_count=int(cs.get("restartCount") or 0),
                ready=bool(cs.get("ready")),
                running=bool((cs.get("state") or {}).get("running")),
                last_termination=_termination(cs.get("lastState")),
                termination=_termination(cs.get("state")),
            )
        )
    return tuple(out)


def _handled(raw: str | None) -> dict[str, int]:
    try:
        value = json.loads(raw) if raw else {}
        return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}
    except (ValueError, TypeError):
        return {}  # written by another hand: nothing counts as handled


def observe_pod(pod: Mapping[str, Any]) -> ObservedPod:
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or [])
    return ObservedPod(
        name=metadata.get("name", ""),
        uid=metadata.get("uid", ""),
        role=labels.get(ROLE_LABEL, ""),
        index=_non_negative_int(labels.get(INDEX_LABEL)),
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
        admitted_at=parse_timestamp(annotations.get(ADMITTED_AT_ANNOTATION)),
        planned_node=annotations.get(PLANNED_NODE_ANNOTATION),
        topology_domain=annotations.get(TOPOLOGY_DOMAIN_ANNOTATION),
        containers=_containers(spec, status),
        reason=status.get("reason"),
        conditions=tuple((c.get("type", ""), c.get("status", "")) for c in conditions),
        restart_policy=spec.get("restartPolicy") or "Always",
        active_deadline_seconds=spec.get("activeDeadlineSeconds"),
        created=parse_timestamp(metadata.get("creationTimestamp")),
        recreated_for=annotations.get(RECREATED_FOR_ANNOTATION),
        restart_generation=_non_negative_int(annotations.get(RESTART_GENERATION_ANNOTATION)) or 0,
        handled=_handled(annotations.get(HANDLED_FAILURES_ANNOTATION)),
        resources=read_pod_resources(pod),
        body=pod,
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
        created=parse_timestamp(meta.get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC),
        deleting=bool(meta.get("deletionTimestamp")),
        spec=spec,
        spec_error=error,
        status=status,
    )
