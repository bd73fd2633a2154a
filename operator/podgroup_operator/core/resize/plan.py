"""Pure decisions about applying a recommendation to the members of a role, in place.

For each member: the requests (and proportional limits) to write through the pods/resize
subresource, or the reason not to. The rules, in order:

* Only running, bound members are resized; BestEffort pods never are (requests cannot be added
  without changing the QoS class), and only resources a container already requests are changed.
  Resources whose container resizePolicy is RestartContainer are left alone: resizing them would
  restart the container.
* Gang awareness: a member never grows beyond what its node can give (the node's allocatable
  minus the requests of the other pods there). Growth that does not fit is scaled down. With
  uniform sizing, every member gets the same target: for each container and resource, the
  smallest target among the members after their own node caps, so the role moves together and
  no member's node is overcommitted.
* The fast path: a resource whose latest usage (any pooled member's) is above its request by
  more than the safety margin, or CPU at its limit (throttled), is grown at once to that usage
  plus the margin (or the target, if higher), without waiting for the history a target needs,
  and without waiting for the cooldown when the sample is newer than the last resize. Shrinking
  never takes it: it waits for the target, the minimum change and the cooldown (as VPA), and
  never goes below the latest usage plus the margin.
* A resource changes only when it moves by at least min_change of its current value; a pod is
  not resized again within the cooldown. Growing memory after an OOM kill skips both.
* While a resize is in progress the pod is left alone. While one is pending (Deferred,
  Infeasible) or failed (PodResizeInProgress reason Error), a new one is sent only when the
  target differs from the pending one by the minimum change: an Infeasible target that the
  node cap reproduces is reported, not retried in a loop.
* Mode Recommend computes everything and applies nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from podgroup_operator.api.resize import ResizeMode, ResizePolicy, ResizeResult
from podgroup_operator.core.observed import ObservedPod
from podgroup_operator.core.resize.limits import format_resources, proportional_limits, round_down
from podgroup_operator.core.resize.pod_resources import ContainerResources
from podgroup_operator.core.resize.recommender import ContainerTarget, Recommendation
from podgroup_operator.core.resize.units import CPU, MEMORY, POD_LEVEL, RESOURCES

POD_LEVEL_UNSUPPORTED_MESSAGE = (
    "pod-level resources are only recommended: resizing them in place needs cgroup v2 and the "
    "feature gate InPlacePodLevelResourcesVerticalScaling"
)

RESIZE_UNSUPPORTED_MESSAGE = "only recommended: this cluster does not serve pods/resize (in-place resize)"


class Decision(enum.StrEnum):
    RESIZE = "Resize"  # apply `containers` / `pod_resources` through pods/resize
    RECOMMEND_ONLY = "RecommendOnly"  # mode Recommend: what would be applied, not applied
    NO_RECOMMENDATION = "NoRecommendation"  # nothing recommended for this pod yet
    BELOW_MIN_CHANGE = "BelowMinChange"
    NO_ROOM = "NoRoom"  # it should grow, but its node (or a fellow member's) has no room
    COOLDOWN = "Cooldown"
    IN_PROGRESS = "InProgress"
    DEFERRED = "Deferred"
    INFEASIBLE = "Infeasible"
    ERROR = "Error"
    NOT_RUNNING = "NotRunning"
    BEST_EFFORT = "BestEffort"
    POD_LEVEL_UNSUPPORTED = "PodLevelUnsupported"
    RESIZE_UNSUPPORTED = "ResizeUnsupported"  # mode Auto on a cluster without pods/resize


# --- observed state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PodResizeState:
    """What the plan needs to know about one member."""

    name: str
    node: str | None
    running: bool
    containers: tuple[ContainerResources, ...]
    requests: Mapping[str, Decimal]  # effective pod requests: what it holds on its node
    # The node's allocatable minus the requests of the *other* pods on it: the most this pod can
    # hold. None when unknown: then the pod may shrink but not grow.
    node_available: Mapping[str, Decimal] | None
    pod_resources: ContainerResources | None = None  # pod.spec.resources, when set
    qos_class: str = "Burstable"
    last_resize: datetime | None = None
    pending: str | None = None  # PodResizePending reason: Deferred or Infeasible
    in_progress: bool = False  # PodResizeInProgress without an error
    error: str | None = None  # PodResizeInProgress reason Error: its message
    message: str = ""  # the kubelet's message of the pending condition


def pod_resize_state(pod: ObservedPod, node_available: Mapping[str, Decimal] | None) -> PodResizeState:
    """The member as the plan sees it. `node_available`: the node's allocatable minus the
    requests of the other pods bound to (or reserved on) that node."""
    r = pod.resources
    return PodResizeState(
        name=pod.name,
        node=pod.node_name,
        running=pod.phase == "Running" and not pod.deleting,
        containers=r.containers,
        requests=pod.requests,
        node_available=node_available,
        pod_resources=r.pod_resources,
        qos_class=r.qos_class,
        last_resize=r.last_resize,
        pending=r.pending,
        in_progress=r.in_progress,
        error=r.error,
        message=r.message,
    )


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanSettings:
    mode: ResizeMode = ResizeMode.AUTO
    min_change: Decimal = Decimal("0.10")  # fraction of the current value
    cooldown: timedelta = timedelta(seconds=60)
    uniform: bool = True
    pod_level_resize_supported: bool = False
    # The API server serves pods/resize (core/features.py; unknown counts as yes: a refusal is
    # then reported like any other).
    resize_subresource: bool = True
    safety_margin: Decimal = Decimal("0.15")  # the fast path's threshold above the request

    @classmethod
    def from_policy(
        cls, policy: ResizePolicy, pod_level_resize_supported: bool = False, resize_subresource: bool = True
    ) -> PlanSettings:
        return cls(
            mode=policy.mode,
            min_change=Decimal(policy.min_change_percent) / 100,
            cooldown=timedelta(seconds=policy.cooldown_seconds),
            uniform=policy.uniform,
            pod_level_resize_supported=pod_level_resize_supported,
            resize_subresource=resize_subresource,
            safety_margin=Decimal(policy.safety_margin_percent) / 100,
        )


def pod_level_mode(uses_pod_level: bool, supported: bool, mode: ResizeMode) -> tuple[ResizeMode, str | None]:
    """The mode for pods with pod-level resources (pod.spec.resources): resizing them in place
    needs cgroup v2 and the feature gate InPlacePodLevelResourcesVerticalScaling (KEP-5419, alpha
    in 1.35). Without it, Auto falls back to Recommend, with the reason."""
    if uses_pod_level and not supported and mode == ResizeMode.AUTO:
        return ResizeMode.RECOMMEND, POD_LEVEL_UNSUPPORTED_MESSAGE
    return mode, None


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourcePatch:
    requests: Mapping[str, Decimal]
    limits: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class PodResize:
    pod: str
    decision: Decision
    containers: Mapping[str, ResourcePatch] = field(default_factory=dict)  # changed ones only
    pod_resources: ResourcePatch | None = None
    capped: bool = False  # smaller than recommended: node room, a fellow member's, or maxAllowed
    message: str = ""

    @property
    def apply(self) -> bool:
        return self.decision == Decision.RESIZE and bool(self.containers or self.pod_resources)

    @property
    def result(self) -> ResizeResult | None:
        """The LastResize result to record when this decision is acted on or observed."""
        return {
            Decision.RESIZE: ResizeResult.CAPPED if self.capped else ResizeResult.APPLIED,
            Decision.DEFERRED: ResizeResult.DEFERRED,
            Decision.INFEASIBLE: ResizeResult.INFEASIBLE,
            Decision.ERROR: ResizeResult.ERROR,
        }.get(self.decision)


Targets = dict[str, dict[str, Decimal]]  # container (POD_LEVEL for pod-level) -> resource -> request


def _current(pod: PodResizeState) -> dict[str, ContainerResources]:
    out = {c.name: c for c in pod.containers}
    if pod.pod_resources is not None:
        out[POD_LEVEL] = pod.pod_resources
    return out


# CPU usage this close to the CPU limit is throttled: the demand is at least the limit.
THROTTLED_FRACTION = Decimal("0.95")


def fast_growth(cur: ContainerResources, t: ContainerTarget, margin: Decimal) -> dict[str, Decimal]:
    """The fast path for one container: the resources whose latest usage is above the request by
    more than the margin (or CPU at its limit), with the size to grow them to at once: the
    usage plus the margin, or the target if that is higher. Never a shrink."""
    out = {}
    for r, used in t.latest.items():
        req, grown = cur.requests.get(r), t.fast.get(r)
        if req is None or grown is None:
            continue
        limit = cur.limits.get(r)
        over = used > req * (1 + margin)
        throttled = r == CPU and limit is not None and used >= limit * THROTTLED_FRACTION
        grown = max(grown, t.target.get(r, grown))
        if (over or throttled) and grown > req:
            out[r] = grown
    return out


def _wanted(pod: PodResizeState, rec: Recommendation, margin: Decimal) -> tuple[Targets, set[str]]:
    """The recommended requests this pod can take: resources it requests now, that can change
    without a restart; and the containers where the fast path grows something."""
    out: Targets = {}
    fast: set[str] = set()
    recs: dict[str, ContainerTarget] = dict(rec.containers)
    if rec.pod is not None:
        recs[POD_LEVEL] = rec.pod
    for name, cur in _current(pod).items():
        t = recs.get(name)
        if t is None:
            continue
        resizable = {r for r in RESOURCES if r in cur.requests and r not in cur.restart_on_resize}
        # Never shrink below what is in use right now plus the margin (conservative shrinking).
        want = {r: max(v, t.fast.get(r, v)) for r, v in t.target.items() if r in resizable}
        grow = {r: v for r, v in fast_growth(cur, t, margin).items() if r in resizable}
        want.update(grow)
        if grow:
            fast.add(name)
        if want:
            out[name] = want
    return out, fast


def _node_cap(pod: PodResizeState, wanted: Targets) -> Targets:
    """Scale down the growth that does not fit on the pod's node. Growth is counted from what the
    kubelet has allocated (a pending resize is not allocated yet), so a pending target that the
    node cannot give is brought down to what it can."""
    current = _current(pod)
    out: Targets = {name: dict(res) for name, res in wanted.items()}
    for r in RESOURCES:
        names = [n for n, res in wanted.items() if r in res]
        if pod.pod_resources is not None and POD_LEVEL in names:
            names = [POD_LEVEL]  # pod-level requests are what the node sees
        if not names:
            continue
        base = {n: min(wanted[n][r], current[n].allocated.get(r, current[n].requests[r])) for n in names}
        growth = {n: wanted[n][r] - base[n] for n in names}
        total_growth = sum(growth.values(), Decimal(0))
        if total_growth <= 0:
            continue
        spec_total = sum((current[n].requests[r] for n in names), Decimal(0))
        rest = max(pod.requests.get(r, spec_total) - spec_total, Decimal(0))  # other containers, overhead
        if pod.node_available is None or r not in pod.node_available:
            allowed = Decimal(0)
        else:
            allowed = max(pod.node_available[r] - rest - sum(base.values(), Decimal(0)), Decimal(0))
        if total_growth <= allowed:
            continue
        factor = allowed / total_growth
        for n in names:
            if growth[n] > 0:
                out[n][r] = base[n] + round_down(r, growth[n] * factor)
    return out


def _changes(
    pod: PodResizeState, targets: Targets, min_change: Decimal, urgent: set[str]
) -> tuple[dict[str, ResourcePatch], bool]:
    """The resources that move enough, with proportional limits; and whether an urgent (post-OOM
    memory growth) change is among them."""
    current = _current(pod)
    out: dict[str, ResourcePatch] = {}
    is_urgent = False
    for name, res in targets.items():
        cur = current[name]
        changed: dict[str, Decimal] = {}
        for r, new in res.items():
            old = cur.requests[r]
            if new == old:
                continue
            if r == MEMORY and name in urgent and new > old:
                changed[r] = new
                is_urgent = True
            elif old <= 0 or abs(new - old) >= min_change * old:
                changed[r] = new
        if changed:
            out[name] = ResourcePatch(changed, proportional_limits(cur.requests, cur.limits, changed))
    return out, is_urgent


def _rec_for(recommendation: Recommendation | Mapping[str, Recommendation], pod: str) -> Recommendation:
    if isinstance(recommendation, Recommendation):
        return recommendation
    return recommendation.get(pod) or Recommendation()


def plan_role(
    pods: Sequence[PodResizeState],
    recommendation: Recommendation | Mapping[str, Recommendation],
    settings: PlanSettings,
    now: datetime,
) -> list[PodResize]:
    """Per member of one role, what to do. `recommendation`: the role's (uniform sizing) or one
    per pod name. Mode Off: no decisions at all."""
    if settings.mode == ResizeMode.OFF:
        return []
    eligible = [p for p in pods if p.running and p.node and p.qos_class != "BestEffort"]
    wanted, fast = {}, {}
    for p in eligible:
        wanted[p.name], fast[p.name] = _wanted(p, _rec_for(recommendation, p.name), settings.safety_margin)
    capped = {p.name: _node_cap(p, wanted[p.name]) for p in eligible}
    if settings.uniform and eligible:
        common: Targets = {}
        for targets in capped.values():
            for name, res in targets.items():
                slot = common.setdefault(name, {})
                for r, v in res.items():
                    slot[r] = min(slot.get(r, v), v)
        capped = {
            p: {name: {r: common[name][r] for r in res} for name, res in targets.items()}
            for p, targets in capped.items()
        }
    out = []
    for pod in pods:
        out.append(
            _decide(
                pod,
                _rec_for(recommendation, pod.name),
                wanted,
                capped,
                fast.get(pod.name, set()),
                settings,
                now,
            )
        )
    return out


def _decide(
    pod: PodResizeState,
    rec: Recommendation,
    wanted: Mapping[str, Targets],
    capped: Mapping[str, Targets],
    fast: set[str],
    settings: PlanSettings,
    now: datetime,
) -> PodResize:
    if not pod.running or not pod.node:
        return PodResize(pod.name, Decision.NOT_RUNNING, message="not running on a node")
    if pod.qos_class == "BestEffort":
        return PodResize(
            pod.name, Decision.BEST_EFFORT, message="BestEffort pods are not resized: set requests to opt in"
        )
    want, targets = wanted[pod.name], capped[pod.name]
    if not want:
        return PodResize(pod.name, Decision.NO_RECOMMENDATION, message="nothing to recommend yet")
    urgent = {n for n, t in rec.containers.items() if t.oom} | (
        {POD_LEVEL} if rec.pod and rec.pod.oom else set()
    )
    changes, is_urgent = _changes(pod, targets, settings.min_change, urgent)
    node_capped = any(targets[n][r] < want[n][r] for n in want for r in want[n])
    max_capped = any(t.capped for t in rec.containers.values()) or bool(rec.pod and rec.pod.capped)
    pod_changes = changes.pop(POD_LEVEL, None)
    summary = _summary(changes, pod_changes)
    if not changes and pod_changes is None:
        grows = any(want[n][r] > _current(pod)[n].requests[r] for n in want for r in want[n])
        if pod.in_progress:
            return PodResize(pod.name, Decision.IN_PROGRESS, message="a resize is in progress")
        if pod.error is not None:
            return PodResize(pod.name, Decision.ERROR, message=pod.error)
        if pod.pending is not None:
            decision = Decision.INFEASIBLE if pod.pending == "Infeasible" else Decision.DEFERRED
            return PodResize(pod.name, decision, capped=node_capped, message=pod.message or pod.pending)
        if node_capped and grows:
            return PodResize(pod.name, Decision.NO_ROOM, capped=True, message="no room to grow on the node")
        return PodResize(pod.name, Decision.BELOW_MIN_CHANGE, message="within the minimum change")
    capped_flag = node_capped or max_capped
    if pod.pod_resources is not None and not settings.pod_level_resize_supported:
        return PodResize(
            pod.name, Decision.POD_LEVEL_UNSUPPORTED, changes, pod_changes, capped_flag,
            f"{POD_LEVEL_UNSUPPORTED_MESSAGE}; would set {summary}",
        )  # fmt: skip
    if settings.mode == ResizeMode.AUTO and not settings.resize_subresource:
        return PodResize(
            pod.name, Decision.RESIZE_UNSUPPORTED, changes, pod_changes, capped_flag,
            f"{RESIZE_UNSUPPORTED_MESSAGE}; would set {summary}",
        )  # fmt: skip
    if settings.mode == ResizeMode.RECOMMEND:
        return PodResize(
            pod.name, Decision.RECOMMEND_ONLY, changes, pod_changes, capped_flag, f"would set {summary}"
        )
    if pod.in_progress:
        return PodResize(pod.name, Decision.IN_PROGRESS, message="a resize is in progress")
    grows_fast = _grows_fast(pod, rec, changes, pod_changes, fast)
    if (
        pod.last_resize is not None
        and now < pod.last_resize + settings.cooldown
        and not is_urgent
        and not grows_fast
    ):
        return PodResize(pod.name, Decision.COOLDOWN, message=f"resized at {pod.last_resize.isoformat()}")
    message = f"set {summary}"
    if is_urgent:
        message += " (memory after an OOM kill)"
    elif grows_fast:
        message += " (usage above the request)"
    return PodResize(pod.name, Decision.RESIZE, changes, pod_changes, capped_flag, message)


def _grows_fast(
    pod: PodResizeState,
    rec: Recommendation,
    changes: Mapping[str, ResourcePatch],
    pod_changes: ResourcePatch | None,
    fast: set[str],
) -> bool:
    """Whether the fast path grows something, from a sample taken after the last resize (an
    older sample was measured under the old size, and already acted on)."""
    current = _current(pod)
    targets = dict(rec.containers)
    if rec.pod is not None:
        targets[POD_LEVEL] = rec.pod
    all_changes = {**changes, **({POD_LEVEL: pod_changes} if pod_changes is not None else {})}
    for name, patch in all_changes.items():
        t = targets.get(name)
        if name not in fast or t is None or t.latest_time is None:
            continue
        if pod.last_resize is not None and t.latest_time <= pod.last_resize:
            continue
        if any(v > current[name].requests.get(r, v) for r, v in patch.requests.items()):
            return True
    return False


def _summary(changes: Mapping[str, ResourcePatch], pod_changes: ResourcePatch | None) -> str:
    parts = [
        f"{name}: {', '.join(f'{r}={q}' for r, q in format_resources(p.requests).items())}"
        for name, p in sorted(changes.items())
    ]
    if pod_changes is not None:
        parts.append(
            f"pod: {', '.join(f'{r}={q}' for r, q in format_resources(pod_changes.requests).items())}"
        )
    return "; ".join(parts)
