"""What the recommender learns from usage samples, per container and per role, and its
checkpoint in status."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.api.resize import (
    ContainerUsageCheckpoint,
    PeakCheckpoint,
    UsageCheckpoint,
)
from podgroup_operator.core.resize.histogram import (
    CHECKPOINT_MAX_BUCKETS,
    CPU_BUCKETS,
    MEMORY_BUCKETS,
    DecayingHistogram,
)
from podgroup_operator.core.resize.params import RecommenderParams
from podgroup_operator.core.resize.units import CPU, POD_LEVEL, epoch_seconds, from_epoch


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
        t = epoch_seconds(time)
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
        window_end = from_epoch((window + 1) * interval)
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
        t = epoch_seconds(time)
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
        self.memory.add_sample(self.params.oom_target(memory_bytes), 1.0, time)
        return True

    def latest(self, now: datetime) -> LatestUsage | None:
        """The latest sample of each pod (within recent_horizon), the highest over the pods: what
        the fast path compares with the current requests. In memory only: after a restart it is
        back with the next sample."""
        horizon = epoch_seconds(now) - self.params.recent_horizon.total_seconds()
        for pod in [p for p, (t, _, _) in self._latest.items() if t < horizon]:
            del self._latest[pod]
        if not self._latest:
            return None
        cpus = [c for _, c, _ in self._latest.values() if c is not None]
        mems = [m for _, _, m in self._latest.values() if m is not None]
        return LatestUsage(
            time=from_epoch(max(t for t, _, _ in self._latest.values())),
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
        oldest = int(epoch_seconds(now) // self._slice_seconds) - self.params.peak_slices + 1
        recent = [v for s, v in self.peaks.items() if s >= oldest]
        return max(recent) if recent else None

    def recent_oom(self, now: datetime) -> float | None:
        """Memory at the OOM kills within oom_horizon before `now`, if there were any."""
        if self.last_oom is None or self.oom_bytes is None:
            return None
        if epoch_seconds(now) - self.last_oom > self.params.oom_horizon.total_seconds():
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
            first_sample_time=None if self.first_sample is None else from_epoch(self.first_sample),
            last_sample_time=None if self.last_sample is None else from_epoch(self.last_sample),
            peaks=[
                PeakCheckpoint(time=from_epoch(s * self._slice_seconds), bytes=math.ceil(v))
                for s, v in sorted(self.peaks.items())
            ],
            last_oom_time=None if self.last_oom is None else from_epoch(self.last_oom),
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
            s = int(epoch_seconds(peak.time) // u._slice_seconds)
            u.peaks[s] = max(u.peaks.get(s, 0.0), float(peak.bytes))
        u.last_oom = _opt_seconds(checkpoint.last_oom_time)
        u.oom_bytes = None if checkpoint.oom_memory_bytes is None else float(checkpoint.oom_memory_bytes)
        # Checkpoint times are whole seconds; anything up to the next second was taken already.
        u._floor = -math.inf if u.last_sample is None else u.last_sample + 0.999999
        u._oom_floor = -math.inf if u.last_oom is None else u.last_oom + 0.999999
        return u


def _opt_seconds(t: datetime | None) -> float | None:
    return None if t is None else epoch_seconds(t)


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
