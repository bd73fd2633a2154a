"""What resize needs to know of a member pod's resources, read once from the pod body with
the rest of ObservedPod: per container the requests, limits, what the kubelet allocated and
which resources restart it when resized; the QoS class; the kubelet's resize conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from podgroup_operator.core.labels import RESIZED_AT_ANNOTATION
from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resize.units import POD_LEVEL, RESOURCES
from podgroup_operator.core.resources import defaulted_requests
from podgroup_operator.core.timestamps import parse_timestamp


@dataclass(frozen=True)
class ContainerResources:
    name: str
    requests: Mapping[str, Decimal] = field(default_factory=dict)
    limits: Mapping[str, Decimal] = field(default_factory=dict)
    restart_on_resize: frozenset[str] = frozenset()  # resizePolicy RestartContainer
    # What the kubelet has allocated (status.containerStatuses[].allocatedResources), where it
    # differs from the spec because a resize is pending; empty: the same as the spec.
    allocated: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class PodResources:
    containers: tuple[ContainerResources, ...] = ()
    pod_resources: ContainerResources | None = None  # pod.spec.resources, when set
    qos_class: str = "Burstable"
    last_resize: datetime | None = None  # when the operator last resized it
    pending: str | None = None  # PodResizePending reason: Deferred or Infeasible
    in_progress: bool = False  # PodResizeInProgress without an error
    error: str | None = None  # PodResizeInProgress reason Error: its message
    message: str = ""  # the kubelet's message of the pending condition


def _quantities(raw: Mapping[str, Any] | None) -> dict[str, Decimal]:
    out = {}
    for name, q in (raw or {}).items():
        try:
            out[name] = parse_quantity(q)
        except ValueError:
            continue  # the API server validates quantities; this guards odd objects
    return out


def _container(c: Mapping[str, Any], status: Mapping[str, Any] | None = None) -> ContainerResources:
    res = c.get("resources") or {}
    limits = _quantities(res.get("limits"))
    requests = defaulted_requests(_quantities(res.get("requests")), limits)
    restart = frozenset(
        p.get("resourceName", "")
        for p in c.get("resizePolicy") or []
        if p.get("restartPolicy") == "RestartContainer"
    )
    status = status or {}
    allocated = _quantities(
        status.get("allocatedResources") or (status.get("resources") or {}).get("requests")
    )
    return ContainerResources(c.get("name", ""), requests, limits, restart, allocated)


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, as the API server computes it (cpu and memory)."""
    parts = [_container(c) for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]]
    if spec.get("resources"):
        parts.append(_container({"resources": spec["resources"]}))
    if not any(r in c.requests or r in c.limits for c in parts for r in RESOURCES):
        return "BestEffort"
    pod_level = _container({"resources": spec["resources"]}) if spec.get("resources") else None
    guaranteed_parts = [pod_level] if pod_level is not None else parts
    if all(
        c.limits.get(r) is not None and c.requests.get(r) == c.limits.get(r)
        for c in guaranteed_parts
        for r in RESOURCES
    ):
        return "Guaranteed"
    return "Burstable"


def read_pod_resources(pod: Mapping[str, Any]) -> PodResources:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    pending = conditions.get("PodResizePending")
    progress = conditions.get("PodResizeInProgress")
    error = progress is not None and progress.get("reason") == "Error"
    statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
    return PodResources(
        containers=tuple(_container(c, statuses.get(c.get("name"))) for c in spec.get("containers") or []),
        pod_resources=_container({"name": POD_LEVEL, "resources": spec["resources"]})
        if spec.get("resources")
        else None,
        qos_class=status.get("qosClass") or qos_class(spec),
        last_resize=parse_timestamp((meta.get("annotations") or {}).get(RESIZED_AT_ANNOTATION)),
        pending=(pending.get("reason") or "Deferred") if pending else None,
        in_progress=progress is not None and not error,
        error=(progress.get("message") or "resize failed") if progress is not None and error else None,
        message=(pending or {}).get("message") or "",
    )
