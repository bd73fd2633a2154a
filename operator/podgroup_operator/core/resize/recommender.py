"""A pure usage recommender for in-place resizing, in the spirit of the VPA recommender.

Usage samples (from metrics.k8s.io) go into decaying histograms with exponentially growing
buckets; the recommended requests are a percentile of them plus a safety margin, clamped to the
policy's bounds. Nothing here does I/O or reads a clock: every time is passed in.

Choices, and how they differ from VPA:

* CPU samples have weight 1, not the CPU request (VPA). VPA weights by the request so that a
  larger request quickly discounts history collected while the container was throttled. Here
  the operator itself changes the requests every few minutes, and members of a role pool their
  samples while their requests may differ for a while (capping, Deferred resizes): weighting by
  request would make every resize re-weight the past. The short half-life (1 h by default,
  VPA's is 24 h) discounts throttled history instead.
* Memory: the histogram holds the peak working set of each pod per interval (5 min by
  default), as VPA does per aggregation interval: a higher sample in the same interval
  replaces the interval's earlier peak. The recommendation never goes below the highest
  working set seen within one half-life, plus the margin.
* After an OOM kill, memory is at least the memory at the kill (the limit, or the last working
  set) plus oom_bump_percent and at least +100Mi, for ``oom_horizon`` (24 h by default), even
  without enough samples for a full recommendation (CPU then stays as it is).
* Floors (25m CPU, 250Mi memory, as in VPA) apply only to resources without a minAllowed: a
  minAllowed given by the user wins, even below the floor. When minAllowed exceeds maxAllowed,
  maxAllowed wins (``policy_problems`` reports it).
* Samples are counted once: per pod, a sample whose time is not after the last one taken for
  that pod is ignored, so repeated reconciles of the same metrics add nothing. After a restart
  from a checkpoint, samples not newer than the checkpoint's last sample are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from podgroup_operator.api.resize import (
    ContainerRecommendation,
    ContainerResizePolicy,
    ResizePolicy,
    ResourceRecommendation,
    RoleRecommendation,
)
from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resize.histogram import CPU_BUCKETS, MEMORY_BUCKETS
from podgroup_operator.core.resize.limits import format_quantity, format_resources
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.units import CPU, MEMORY, POD_LEVEL, RESOURCES, MiB
from podgroup_operator.core.resize.usage import ContainerUsage, RoleUsage


@dataclass(frozen=True)
class ContainerBounds:
    """The policy for one container, with quantities parsed."""

    controlled: frozenset[str] = frozenset(RESOURCES)
    min_allowed: Mapping[str, Decimal] = field(default_factory=dict)
    max_allowed: Mapping[str, Decimal] = field(default_factory=dict)


def container_policy(policy: ResizePolicy, container: str) -> ContainerResizePolicy | None:
    """The entry for this container: its own, else "*", else None (the defaults)."""
    by_name = {c.container_name: c for c in policy.containers}
    return by_name.get(container) or by_name.get("*")


def container_bounds(policy: ResizePolicy, container: str) -> ContainerBounds:
    entry = container_policy(policy, container)
    if entry is None:
        return ContainerBounds()

    def parsed(q: object) -> dict[str, Decimal]:
        out = {}
        for r in RESOURCES:
            raw = getattr(q, r, None) if q is not None else None
            if isinstance(raw, str):
                out[r] = parse_quantity(raw)
        return out

    return ContainerBounds(
        controlled=frozenset(str(r) for r in entry.controlled_resources),
        min_allowed=parsed(entry.min_allowed),
        max_allowed=parsed(entry.max_allowed),
    )


def policy_problems(policy: ResizePolicy) -> list[str]:
    """Mistakes in the policy the API server does not catch, for a condition or an event."""
    problems = []
    for entry in policy.containers:
        b = container_bounds(policy, entry.container_name)
        for r in RESOURCES:
            lo, hi = b.min_allowed.get(r), b.max_allowed.get(r)
            if lo is not None and hi is not None and lo > hi:
                problems.append(
                    f"container {entry.container_name!r}: minAllowed.{r} exceeds maxAllowed.{r}; "
                    f"maxAllowed ({format_quantity(r, hi)}) is used"
                )
    return problems


@dataclass(frozen=True)
class ContainerTarget:
    """Recommended requests of one container. A resource is missing from `target` when there is
    nothing to recommend for it yet (not controlled, or not enough history).

    `latest` and `fast` serve the fast path (core.resize.plan): the latest usage (the highest
    over the pooled pods) and that usage plus the margin, clamped; they exist from the first
    sample on, without waiting for the history the target needs."""

    target: Mapping[str, Decimal]
    lower_bound: Mapping[str, Decimal] = field(default_factory=dict)
    upper_bound: Mapping[str, Decimal] = field(default_factory=dict)
    oom: bool = False  # memory was raised for a recent OOM kill: applying it is urgent
    capped: frozenset[str] = frozenset()  # resources maxAllowed held below the usage
    latest: Mapping[str, Decimal] = field(default_factory=dict)
    fast: Mapping[str, Decimal] = field(default_factory=dict)
    latest_time: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.target and not self.fast


@dataclass(frozen=True)
class Recommendation:
    """Recommended requests of the containers of a role (or member); `pod` is the pod-level one."""

    containers: Mapping[str, ContainerTarget] = field(default_factory=dict)
    pod: ContainerTarget | None = None

    @property
    def empty(self) -> bool:
        return all(t.empty for t in self.containers.values()) and (self.pod is None or self.pod.empty)


def _round_up(resource: str, value: float) -> Decimal:
    if resource == CPU:
        return (Decimal(repr(value)) * 1000).to_integral_value(ROUND_CEILING) / 1000
    return (Decimal(repr(value)) / MiB).to_integral_value(ROUND_CEILING) * MiB


def _clamp(resource: str, value: Decimal, bounds: ContainerBounds, params: RecommenderParams) -> Decimal:
    floor = params.cpu_floor if resource == CPU else params.memory_floor
    lo = bounds.min_allowed.get(resource, floor)
    out = max(value, lo)
    hi = bounds.max_allowed.get(resource)
    return min(out, hi) if hi is not None else out


def _confidence_multipliers(confidence: float) -> tuple[float, float]:
    """VPA's bound multipliers: lower x (1 + 0.001/c)^-2, upper x (1 + 1/c). Young history gives
    wide bounds; the target itself is not scaled (as in VPA)."""
    if confidence <= 0:
        return 0.0, math.inf
    return (1 + 0.001 / confidence) ** -2, 1 + 1 / confidence


def recommend_container(
    usage: ContainerUsage, bounds: ContainerBounds, params: RecommenderParams, now: datetime
) -> ContainerTarget:
    """Target requests: the target percentile of the usage plus the safety margin, clamped.
    Memory is also at least the recent peak plus the margin and, after an OOM kill, the memory at
    the kill plus the bump. Lower bound: the median plus margin, upper bound: the 95th
    percentile (or the target percentile if higher) plus margin, both scaled by confidence as
    in VPA, and never on the wrong side of the target."""
    p = params.target_percentile
    margin = 1 + params.safety_margin
    confident = usage.confident()
    lo_factor, hi_factor = _confidence_multipliers(usage.confidence())
    target: dict[str, Decimal] = {}
    lower: dict[str, Decimal] = {}
    upper: dict[str, Decimal] = {}
    capped: set[str] = set()
    oom = False

    def clamped(resource: str, value: float) -> Decimal:
        if math.isinf(value):
            value = (CPU_BUCKETS if resource == CPU else MEMORY_BUCKETS).max_value
        return _clamp(resource, _round_up(resource, value), bounds, params)

    def put(resource: str, want: float, lo: float, hi: float) -> None:
        t = _round_up(resource, want)
        value = _clamp(resource, t, bounds, params)
        if value < t:
            capped.add(resource)
        target[resource] = value
        lower[resource] = min(clamped(resource, lo * lo_factor), value)
        upper[resource] = max(clamped(resource, hi * hi_factor), value)

    if CPU in bounds.controlled and confident and not usage.cpu.is_empty:
        h = usage.cpu
        put(
            CPU,
            h.percentile(p) * margin,
            h.percentile(min(0.5, p)) * margin,
            h.percentile(max(0.95, p)) * margin,
        )

    if MEMORY in bounds.controlled:
        h = usage.memory
        oom_bytes = usage.recent_oom(now)
        if confident and not h.is_empty:
            want = h.percentile(p) * margin
            lo, hi = h.percentile(min(0.5, p)) * margin, h.percentile(max(0.95, p)) * margin
            peak = usage.recent_peak(now)
            if peak is not None:
                want = max(want, peak * margin)
            if oom_bytes is not None:
                want = max(want, params.oom_target(oom_bytes))
                oom = True
            put(MEMORY, want, lo, max(hi, want))
        elif oom_bytes is not None:
            want = params.oom_target(oom_bytes)
            put(MEMORY, want, want, want)
            oom = True

    latest, fast = {}, {}
    now_usage = usage.latest(now)
    if now_usage is not None:
        for r in RESOURCES:
            value = now_usage.get(r)
            if r in bounds.controlled and value is not None:
                latest[r] = _round_up(r, value)
                fast[r] = _clamp(r, _round_up(r, value * margin), bounds, params)
    return ContainerTarget(
        target,
        lower,
        upper,
        oom=oom,
        capped=frozenset(capped),
        latest=latest,
        fast=fast,
        latest_time=now_usage.time if now_usage is not None else None,
    )


def recommend(
    usage: RoleUsage,
    policy: ResizePolicy,
    now: datetime,
    containers: Iterable[str] | None = None,
    params: RecommenderParams | None = None,
) -> Recommendation:
    """Recommendations for the containers with usage (or those named in `containers`, the
    template's container names; pass POD_LEVEL for pod-level resources, which use the "*"
    bounds). Containers with nothing to recommend are left out. The percentile, margin and OOM
    bump come from the policy; the rest from `params` (default: the usage's)."""
    params = replace(
        params or usage.params,
        target_percentile=policy.target_percentile / 100,
        safety_margin=policy.safety_margin_percent / 100,
        oom_bump=policy.oom_bump_percent / 100,
    )
    names = list(containers) if containers is not None else list(usage.containers)
    out: dict[str, ContainerTarget] = {}
    pod: ContainerTarget | None = None
    for name in names:
        u = usage.containers.get(name)
        if u is None:
            continue
        rec = recommend_container(u, container_bounds(policy, name or "*"), params, now)
        if rec.empty:
            continue
        if name == POD_LEVEL:
            pod = rec
        else:
            out[name] = rec
    return Recommendation(out, pod)


def to_status(role: str, rec: Recommendation, pod: str | None = None) -> RoleRecommendation:
    """The status record of a recommendation."""

    def res(t: ContainerTarget) -> ResourceRecommendation:
        return ResourceRecommendation(
            target=format_resources(t.target),
            lower_bound=format_resources(t.lower_bound) or None,
            upper_bound=format_resources(t.upper_bound) or None,
        )

    return RoleRecommendation(
        role=role,
        pod=pod,
        containers=[
            ContainerRecommendation(container=name, **res(t).model_dump())
            for name, t in sorted(rec.containers.items())
            if t.target  # the fast path alone is not a recommendation to show
        ],
        pod_resources=res(rec.pod) if rec.pod is not None and rec.pod.target else None,
    )
