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
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cached_property

from podgroup_operator.api.resize import (
    ContainerRecommendation,
    ContainerResizePolicy,
    ContainerUsageCheckpoint,
    HistogramCheckpoint,
    PeakCheckpoint,
    ResizePolicy,
    ResourceRecommendation,
    RoleRecommendation,
    UsageCheckpoint,
)
from podgroup_operator.core.quantity import format_cpu, format_memory, parse_quantity

CPU = "cpu"
MEMORY = "memory"
RESOURCES = (CPU, MEMORY)
MiB = 2**20
# The container name under which pod-level usage is kept (no container can have this name).
POD_LEVEL = ""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(t: datetime) -> float:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH).total_seconds()


def _time(seconds: float) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


# --- histogram ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExponentialBuckets:
    """Bucket i covers [start(i), start(i+1)); bucket sizes grow by `ratio`, the first is `first`.
    Values from max_value up all land in the last bucket."""

    first: float
    ratio: float
    max_value: float

    def _raw_index(self, value: float) -> int:
        return math.floor(math.log(value * (self.ratio - 1) / self.first + 1, self.ratio))

    @cached_property
    def last(self) -> int:
        return max(self._raw_index(self.max_value), 0)

    @property
    def count(self) -> int:
        return self.last + 1

    def start(self, i: int) -> float:
        return self.first * (self.ratio**i - 1) / (self.ratio - 1)

    def index(self, value: float) -> int:
        if value < self.first:
            return 0
        if value >= self.max_value:
            return self.last
        i = self._raw_index(value)
        # Guard float error at bucket boundaries.
        while i > 0 and self.start(i) > value:
            i -= 1
        while self.start(i + 1) <= value:
            i += 1
        return min(i, self.last)


# As VPA: 0.01 core / 10 MB first buckets, 5% growth, up to 1000 cores / 1 TB (~175 buckets each).
CPU_BUCKETS = ExponentialBuckets(first=0.01, ratio=1.05, max_value=1000.0)
MEMORY_BUCKETS = ExponentialBuckets(first=1e7, ratio=1.05, max_value=1e12)

# Weights are kept relative to a reference time; when a sample would be weighted more than
# 2**_MAX_EXPONENT, the reference moves forward and every weight is rescaled.
_MAX_EXPONENT = 30.0
CHECKPOINT_MAX_WEIGHT = 10000
CHECKPOINT_MAX_BUCKETS = 50


class DecayingHistogram:
    """A histogram whose samples lose half their weight every `half_life` seconds.

    A sample of weight w at time t is stored as w * 2**((t - reference)/half_life): recent samples
    weigh more, and no stored weight ever has to be updated as time passes. Mutable (it is an
    accumulator), but pure: time comes in with every sample.
    """

    def __init__(self, buckets: ExponentialBuckets, half_life: float) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be positive")
        self.buckets = buckets
        self.half_life = float(half_life)
        self.weights = [0.0] * buckets.count
        self.reference = 0.0  # epoch seconds, whole
        self.total = 0.0

    # -- samples --

    def _factor(self, t: float) -> float:
        return 2.0 ** ((t - self.reference) / self.half_life)

    def _move_reference(self, t: float) -> None:
        new_ref = float(math.floor(t))
        scale = 2.0 ** ((self.reference - new_ref) / self.half_life)
        self.weights = [w * scale for w in self.weights]
        self.total *= scale
        self.reference = new_ref

    def add_sample(self, value: float, weight: float, time: datetime) -> None:
        if weight <= 0 or value < 0 or math.isnan(value):
            return
        t = _seconds(time)
        if self.is_empty:
            self.weights = [0.0] * self.buckets.count
            self.total = 0.0
            self.reference = float(math.floor(t))
        elif (t - self.reference) / self.half_life > _MAX_EXPONENT:
            self._move_reference(t)
        w = weight * self._factor(t)
        self.weights[self.buckets.index(value)] += w
        self.total += w

    def subtract_sample(self, value: float, weight: float, time: datetime) -> None:
        """Undo add_sample(value, weight, time) (the weights never go negative)."""
        if weight <= 0 or self.is_empty:
            return
        i = self.buckets.index(value)
        w = weight * self._factor(_seconds(time))
        left = self.weights[i] - w
        removed = self.weights[i] if left <= 1e-9 * max(w, self.weights[i]) else w
        self.weights[i] -= removed
        self.total = max(self.total - removed, 0.0)
        if self.total <= 1e-12 * max(1.0, removed):
            self.weights = [0.0] * self.buckets.count
            self.total = 0.0

    def merge(self, other: DecayingHistogram) -> None:
        """Add all of other's samples to this histogram (same buckets and half-life)."""
        if other.buckets != self.buckets or other.half_life != self.half_life:
            raise ValueError("cannot merge histograms with different buckets or half-lives")
        if other.is_empty:
            return
        if self.is_empty:
            self.weights = list(other.weights)
            self.total = other.total
            self.reference = other.reference
            return
        if other.reference > self.reference:
            self._move_reference(other.reference)
        scale = 2.0 ** ((other.reference - self.reference) / self.half_life)
        for i, w in enumerate(other.weights):
            self.weights[i] += w * scale
        self.total += other.total * scale

    # -- reading --

    @property
    def is_empty(self) -> bool:
        return self.total <= 0.0

    def total_weight(self, at: datetime) -> float:
        """The sum of the sample weights as they count at time `at`."""
        return self.total * 2.0 ** ((self.reference - _seconds(at)) / self.half_life)

    def percentile(self, p: float) -> float:
        """The upper end of the bucket where the weight below reaches fraction p (0..1): an
        over-estimate by at most one bucket (5% + the first bucket's size); the start of the
        last bucket when it is that one. 0.0 when empty."""
        if self.is_empty:
            return 0.0
        threshold = max(0.0, min(p, 1.0)) * self.total
        partial = 0.0
        last = 0
        for i, w in enumerate(self.weights):
            if w <= 0:
                continue
            last = i
            partial += w
            if partial >= threshold and (p < 1.0 or partial >= self.total * (1 - 1e-12)):
                break
        # The last bucket has no upper end: its start, as VPA (values from max_value up land there).
        return self.buckets.start(last if last == self.buckets.last else last + 1)

    # -- checkpoints --

    def to_checkpoint(self, max_buckets: int = CHECKPOINT_MAX_BUCKETS) -> HistogramCheckpoint:
        """A compact copy: non-empty buckets only, weights scaled so the heaviest is 10000 and
        rounded (buckets under 1/20000 of the heaviest are dropped), at most `max_buckets`
        entries. When there are more, neighbouring buckets are pooled k at a time into the
        highest of them, so percentiles read back are over-estimated by at most k buckets, never
        under-estimated. About 13 bytes of JSON per bucket: 50 buckets are ~650 bytes."""
        nonzero = [(i, w) for i, w in enumerate(self.weights) if w > 0]
        last = self.buckets.count - 1
        k = 1
        while True:
            pooled: dict[int, float] = {}
            for i, w in nonzero:
                j = min((i // k) * k + k - 1, last)
                pooled[j] = pooled.get(j, 0.0) + w
            heaviest = max(pooled.values(), default=0.0)
            scaled = {j: round(w * CHECKPOINT_MAX_WEIGHT / heaviest) for j, w in sorted(pooled.items())}
            scaled = {j: w for j, w in scaled.items() if w > 0}
            if len(scaled) <= max_buckets:
                break
            k += 1
        return HistogramCheckpoint(
            reference_time=_time(self.reference),
            total_weight=float(f"{self.total:.6g}"),
            buckets={str(j): w for j, w in scaled.items()},
        )

    @classmethod
    def from_checkpoint(
        cls, checkpoint: HistogramCheckpoint, buckets: ExponentialBuckets, half_life: float
    ) -> DecayingHistogram:
        h = cls(buckets, half_life)
        h.reference = float(math.floor(_seconds(checkpoint.reference_time)))
        entries = {}
        for key, w in checkpoint.buckets.items():
            if key.isdigit() and w > 0 and int(key) < buckets.count:
                entries[int(key)] = w
        stored = sum(entries.values())
        if stored <= 0 or checkpoint.total_weight <= 0:
            return cls(buckets, half_life)
        ratio = checkpoint.total_weight / stored
        for i, w in entries.items():
            h.weights[i] = w * ratio
        h.total = sum(h.weights)
        return h

    def to_dict(self, max_buckets: int = CHECKPOINT_MAX_BUCKETS) -> dict[str, object]:
        return self.to_checkpoint(max_buckets).to_dict()

    @classmethod
    def from_dict(
        cls, data: Mapping[str, object], buckets: ExponentialBuckets, half_life: float
    ) -> DecayingHistogram:
        return cls.from_checkpoint(HistogramCheckpoint.model_validate(data), buckets, half_life)


# --- parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecommenderParams:
    target_percentile: float = 0.90
    safety_margin: float = 0.15
    half_life: timedelta = timedelta(hours=1)
    memory_interval: timedelta = timedelta(minutes=5)  # one memory peak per pod per interval
    oom_bump: float = 0.20
    oom_min_bump_bytes: int = 100 * MiB  # VPA's OOMMinBumpUp
    oom_horizon: timedelta = timedelta(hours=24)  # how long an OOM kill keeps memory up
    cpu_floor: Decimal = Decimal("0.025")  # cores; only where no minAllowed is set
    memory_floor: Decimal = Decimal(250 * MiB)  # bytes; only where no minAllowed is set
    min_samples: int = 20  # fewer samples: no recommendation (except memory after an OOM)
    min_history: timedelta = timedelta(minutes=5)  # shorter history: likewise
    peak_slices: int = 8  # the recent peak is kept in this many slices of one half-life
    # The fast path reads each pod's latest sample; samples older than this are stale (a pod gone).
    recent_horizon: timedelta = timedelta(minutes=2)
    # Confidence, as VPA's (in days there, one sample a minute): history in half-lives, where
    # samples count for at most one minute each. It widens the bounds, not the target.
    confidence_sample_seconds: float = 60.0

    @classmethod
    def from_policy(cls, policy: ResizePolicy, **overrides: object) -> RecommenderParams:
        half_life = timedelta(seconds=policy.history_half_life_seconds)
        values: dict[str, object] = {
            "target_percentile": policy.target_percentile / 100,
            "safety_margin": policy.safety_margin_percent / 100,
            "half_life": half_life,
            # At least 4 intervals per half-life, so short half-lives still see several peaks.
            "memory_interval": max(timedelta(seconds=15), min(timedelta(minutes=5), half_life / 4)),
            "oom_bump": policy.oom_bump_percent / 100,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


# --- usage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageSample:
    """One metrics.k8s.io reading of one container: `time` is the metrics timestamp (the end of
    the window the CPU rate is measured over, `window_seconds`: the source's resolution)."""

    pod: str
    container: str
    time: datetime
    cpu_cores: float | None = None
    memory_bytes: float | None = None
    window_seconds: float | None = None


@dataclass(frozen=True)
class LatestUsage:
    """The latest reading of a container: the highest over the pods whose usage is pooled."""

    time: datetime
    cpu_cores: float | None = None
    memory_bytes: float | None = None

    def get(self, resource: str) -> float | None:
        return self.cpu_cores if resource == CPU else self.memory_bytes


def pod_level_samples(samples: Iterable[UsageSample]) -> list[UsageSample]:
    """Pod-level usage (container POD_LEVEL): the sum over each pod's containers at each time,
    for pods whose resources are set at pod level (spec.resources)."""
    sums: dict[tuple[str, datetime], tuple[float | None, float | None]] = {}
    windows: dict[tuple[str, datetime], float | None] = {}
    for s in samples:
        if s.container == POD_LEVEL:
            continue
        cpu, mem = sums.get((s.pod, s.time), (0.0, 0.0))
        # A container without a reading leaves the pod's sum unknown, not too small.
        sums[(s.pod, s.time)] = (
            None if cpu is None or s.cpu_cores is None else cpu + s.cpu_cores,
            None if mem is None or s.memory_bytes is None else mem + s.memory_bytes,
        )
        windows[(s.pod, s.time)] = s.window_seconds
    return [
        UsageSample(pod, POD_LEVEL, t, cpu, mem, windows[(pod, t)]) for (pod, t), (cpu, mem) in sums.items()
    ]


class ContainerUsage:
    """What is known of one container's usage: of the container in one pod, or pooled over the
    members of a role (uniform sizing)."""

    def __init__(self, params: RecommenderParams) -> None:
        self.params = params
        hl = params.half_life.total_seconds()
        self.cpu = DecayingHistogram(CPU_BUCKETS, hl)
        self.memory = DecayingHistogram(MEMORY_BUCKETS, hl)
        self.samples = 0
        self.first_sample: float | None = None
        self.last_sample: float | None = None
        self.peaks: dict[int, float] = {}  # slice index -> highest working set
        self.last_oom: float | None = None
        self.oom_bytes: float | None = None
        # In memory only: per pod, the last sample and OOM taken, and the current memory window.
        self._floor = -math.inf  # samples not after this are ignored (restored checkpoints)
        self._oom_floor = -math.inf
        self._seen: dict[str, float] = {}
        self._oom_seen: dict[str, float] = {}
        self._window: dict[str, tuple[int, float]] = {}
        self._latest: dict[str, tuple[float, float | None, float | None]] = {}  # pod -> t, cpu, mem

    @property
    def _slice_seconds(self) -> float:
        return self.params.half_life.total_seconds() / self.params.peak_slices

    def add_sample(
        self, pod: str, time: datetime, cpu_cores: float | None, memory_bytes: float | None
    ) -> bool:
        """Take one reading; False when it was already taken (not newer than the pod's last)."""
        t = _seconds(time)
        if (cpu_cores is None and memory_bytes is None) or t <= self._seen.get(pod, self._floor):
            return False
        self._seen[pod] = t
        self._latest[pod] = (t, cpu_cores, memory_bytes)
        if cpu_cores is not None:
            self.cpu.add_sample(max(cpu_cores, 0.0), 1.0, time)
        if memory_bytes is not None:
            self._add_memory(pod, t, max(memory_bytes, 0.0))
        self.samples += 1
        self.first_sample = t if self.first_sample is None else min(self.first_sample, t)
        self.last_sample = t if self.last_sample is None else max(self.last_sample, t)
        return True

    def _add_memory(self, pod: str, t: float, value: float) -> None:
        interval = self.params.memory_interval.total_seconds()
        window = int(t // interval)
        window_end = _time((window + 1) * interval)
        current = self._window.get(pod)
        if current is not None and current[0] == window:
            if value <= current[1]:
                return
            self.memory.subtract_sample(current[1], 1.0, window_end)
        self.memory.add_sample(value, 1.0, window_end)
        self._window[pod] = (window, value)
        s = int(t // self._slice_seconds)
        self.peaks[s] = max(self.peaks.get(s, 0.0), value)
        self._prune_peaks(t)

    def _prune_peaks(self, now: float) -> None:
        oldest = int(now // self._slice_seconds) - self.params.peak_slices + 1
        for s in [s for s in self.peaks if s < oldest]:
            del self.peaks[s]

    def record_oom(self, pod: str, time: datetime, memory_bytes: float | None) -> bool:
        """An OOM kill of the container in `pod` at `time` (the termination's finishedAt), with
        the memory it had then: its memory limit, else (None) the pod's last working set, else the
        recent peak. Counted once."""
        t = _seconds(time)
        if memory_bytes is None:
            memory_bytes = self.latest_memory(pod) or self.recent_peak(time)
        if memory_bytes is None or t <= self._oom_seen.get(pod, self._oom_floor) or memory_bytes <= 0:
            return False
        self._oom_seen[pod] = t
        horizon = self.params.oom_horizon.total_seconds()
        if self.last_oom is None or self.oom_bytes is None or t - self.last_oom > horizon:
            self.oom_bytes = memory_bytes
        else:
            self.oom_bytes = max(self.oom_bytes, memory_bytes)
        self.last_oom = t if self.last_oom is None else max(self.last_oom, t)
        # As VPA: the kill is also a memory sample of the bumped size, so it lives on in history.
        self.memory.add_sample(_oom_target(memory_bytes, self.params), 1.0, time)
        return True

    def latest(self, now: datetime) -> LatestUsage | None:
        """The latest sample of each pod (within recent_horizon), the highest over the pods: what
        the fast path compares with the current requests. In memory only: after a restart it is
        back with the next sample."""
        horizon = _seconds(now) - self.params.recent_horizon.total_seconds()
        for pod in [p for p, (t, _, _) in self._latest.items() if t < horizon]:
            del self._latest[pod]
        if not self._latest:
            return None
        cpus = [c for _, c, _ in self._latest.values() if c is not None]
        mems = [m for _, _, m in self._latest.values() if m is not None]
        return LatestUsage(
            time=_time(max(t for t, _, _ in self._latest.values())),
            cpu_cores=max(cpus) if cpus else None,
            memory_bytes=max(mems) if mems else None,
        )

    def latest_memory(self, pod: str) -> float | None:
        latest = self._latest.get(pod)
        return latest[2] if latest is not None else None

    def confidence(self) -> float:
        """How much history there is, in half-lives (VPA: in days, its half-life), counting at
        most one sample a minute: min(history span, samples x 1 min) / half-life."""
        if self.first_sample is None or self.last_sample is None:
            return 0.0
        span = self.last_sample - self.first_sample
        by_samples = self.samples * self.params.confidence_sample_seconds
        return min(span, by_samples) / self.params.half_life.total_seconds()

    def recent_peak(self, now: datetime) -> float | None:
        """The highest working set seen within one half-life before `now`."""
        oldest = int(_seconds(now) // self._slice_seconds) - self.params.peak_slices + 1
        recent = [v for s, v in self.peaks.items() if s >= oldest]
        return max(recent) if recent else None

    def recent_oom(self, now: datetime) -> float | None:
        """Memory at the OOM kills within oom_horizon before `now`, if there were any."""
        if self.last_oom is None or self.oom_bytes is None:
            return None
        if _seconds(now) - self.last_oom > self.params.oom_horizon.total_seconds():
            return None
        return self.oom_bytes

    def confident(self) -> bool:
        if self.samples < self.params.min_samples or self.first_sample is None or self.last_sample is None:
            return False
        return self.last_sample - self.first_sample >= self.params.min_history.total_seconds()

    def merge(self, other: ContainerUsage) -> None:
        """Pool other's usage into this one (e.g. when members start being sized together)."""
        self.cpu.merge(other.cpu)
        self.memory.merge(other.memory)
        self.samples += other.samples
        for attr in ("first_sample", "last_sample", "last_oom"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            pick = min if attr == "first_sample" else max
            setattr(self, attr, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        if other.oom_bytes is not None:
            self.oom_bytes = max(self.oom_bytes or 0.0, other.oom_bytes)
        for s, v in other.peaks.items():
            self.peaks[s] = max(self.peaks.get(s, 0.0), v)

    # -- checkpoints --

    def to_checkpoint(
        self, container: str, max_buckets: int = CHECKPOINT_MAX_BUCKETS
    ) -> ContainerUsageCheckpoint:
        return ContainerUsageCheckpoint(
            container=container,
            cpu=None if self.cpu.is_empty else self.cpu.to_checkpoint(max_buckets),
            memory=None if self.memory.is_empty else self.memory.to_checkpoint(max_buckets),
            samples=self.samples,
            first_sample_time=None if self.first_sample is None else _time(self.first_sample),
            last_sample_time=None if self.last_sample is None else _time(self.last_sample),
            peaks=[
                PeakCheckpoint(time=_time(s * self._slice_seconds), bytes=math.ceil(v))
                for s, v in sorted(self.peaks.items())
            ],
            last_oom_time=None if self.last_oom is None else _time(self.last_oom),
            oom_memory_bytes=None if self.oom_bytes is None else math.ceil(self.oom_bytes),
        )

    @classmethod
    def from_checkpoint(
        cls, checkpoint: ContainerUsageCheckpoint, params: RecommenderParams
    ) -> ContainerUsage:
        u = cls(params)
        hl = params.half_life.total_seconds()
        if checkpoint.cpu is not None:
            u.cpu = DecayingHistogram.from_checkpoint(checkpoint.cpu, CPU_BUCKETS, hl)
        if checkpoint.memory is not None:
            u.memory = DecayingHistogram.from_checkpoint(checkpoint.memory, MEMORY_BUCKETS, hl)
        u.samples = checkpoint.samples
        u.first_sample = _opt_seconds(checkpoint.first_sample_time)
        u.last_sample = _opt_seconds(checkpoint.last_sample_time)
        for peak in checkpoint.peaks:
            s = int(_seconds(peak.time) // u._slice_seconds)
            u.peaks[s] = max(u.peaks.get(s, 0.0), float(peak.bytes))
        u.last_oom = _opt_seconds(checkpoint.last_oom_time)
        u.oom_bytes = None if checkpoint.oom_memory_bytes is None else float(checkpoint.oom_memory_bytes)
        # Checkpoint times are whole seconds; anything up to the next second was taken already.
        u._floor = -math.inf if u.last_sample is None else u.last_sample + 0.999999
        u._oom_floor = -math.inf if u.last_oom is None else u.last_oom + 0.999999
        return u


def _opt_seconds(t: datetime | None) -> float | None:
    return None if t is None else _seconds(t)


class RoleUsage:
    """Usage of the containers of one role (uniform sizing) or one member, keyed by container
    name (POD_LEVEL for pod-level usage: the sum over the pod's containers)."""

    def __init__(self, params: RecommenderParams) -> None:
        self.params = params
        self.containers: dict[str, ContainerUsage] = {}

    def container(self, name: str) -> ContainerUsage:
        if name not in self.containers:
            self.containers[name] = ContainerUsage(self.params)
        return self.containers[name]

    def add(self, sample: UsageSample) -> bool:
        return self.container(sample.container).add_sample(
            sample.pod, sample.time, sample.cpu_cores, sample.memory_bytes
        )

    def add_all(self, samples: Iterable[UsageSample]) -> int:
        return sum(self.add(s) for s in samples)

    def record_oom(self, pod: str, container: str, time: datetime, memory_bytes: float | None) -> bool:
        return self.container(container).record_oom(pod, time, memory_bytes)

    def to_checkpoint(
        self, role: str, pod: str | None = None, max_buckets: int = CHECKPOINT_MAX_BUCKETS
    ) -> UsageCheckpoint:
        return UsageCheckpoint(
            role=role,
            pod=pod,
            containers=[u.to_checkpoint(name, max_buckets) for name, u in sorted(self.containers.items())],
        )

    @classmethod
    def from_checkpoint(cls, checkpoint: UsageCheckpoint, params: RecommenderParams) -> RoleUsage:
        usage = cls(params)
        for c in checkpoint.containers:
            usage.containers[c.container] = ContainerUsage.from_checkpoint(c, params)
        return usage


# --- recommendations ---------------------------------------------------------------------------


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
                    f"maxAllowed ({_format(r, hi)}) is used"
                )
    return problems


@dataclass(frozen=True)
class ContainerTarget:
    """Recommended requests of one container. A resource is missing from `target` when there is
    nothing to recommend for it yet (not controlled, or not enough history).

    `latest` and `fast` serve the fast path (core.resize_plan): the latest usage (the highest
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


def _oom_target(memory_bytes: float, params: RecommenderParams) -> float:
    return max(memory_bytes * (1 + params.oom_bump), memory_bytes + params.oom_min_bump_bytes)


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
                want = max(want, _oom_target(oom_bytes, params))
                oom = True
            put(MEMORY, want, lo, max(hi, want))
        elif oom_bytes is not None:
            want = _oom_target(oom_bytes, params)
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


# --- limits ------------------------------------------------------------------------------------


def proportional_limits(
    requests: Mapping[str, Decimal], limits: Mapping[str, Decimal], new_requests: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """New limits keeping each limit's ratio to its request (VPA's proportional limits), for the
    resources in new_requests that have a limit now. A limit equal to its request stays equal, so
    a Guaranteed pod stays Guaranteed. CPU rounds up to a millicore, memory up to a byte."""
    out: dict[str, Decimal] = {}
    for r, new in new_requests.items():
        lim = limits.get(r)
        if lim is None:
            continue
        req = requests.get(r)
        if req is None or lim == req:
            out[r] = new  # no request means request == limit (the API server's default)
            continue
        if req <= 0:
            out[r] = max(lim, new)  # no ratio to keep
            continue
        scaled = new * lim / req
        quantum = Decimal("0.001") if r == CPU else Decimal(1)
        out[r] = max((scaled / quantum).to_integral_value(ROUND_CEILING) * quantum, new)
    return out


def _format(resource: str, value: Decimal) -> str:
    return format_cpu(value) if resource == CPU else format_memory(value)


def format_resources(values: Mapping[str, Decimal]) -> dict[str, str]:
    """Quantities as Kubernetes writes them: CPU in cores or millicores, memory in bytes/Ki/Mi/Gi."""
    return {r: _format(r, v) for r, v in sorted(values.items())}


def round_down(resource: str, value: Decimal) -> Decimal:
    """CPU down to a millicore, memory down to a MiB (for caps: never above what is available)."""
    quantum = Decimal("0.001") if resource == CPU else Decimal(MiB)
    return (value / quantum).to_integral_value(ROUND_FLOOR) * quantum


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
