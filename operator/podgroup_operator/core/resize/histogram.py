"""Decaying histograms with exponentially growing buckets, as VPA keeps usage, and their
checkpoints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from podgroup_operator.api.resize import HistogramCheckpoint
from podgroup_operator.core.resize.units import epoch_seconds, from_epoch


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
        t = epoch_seconds(time)
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
        w = weight * self._factor(epoch_seconds(time))
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
        return self.total * 2.0 ** ((self.reference - epoch_seconds(at)) / self.half_life)

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
            reference_time=from_epoch(self.reference),
            total_weight=float(f"{self.total:.6g}"),
            buckets={str(j): w for j, w in scaled.items()},
        )

    @classmethod
    def from_checkpoint(
        cls, checkpoint: HistogramCheckpoint, buckets: ExponentialBuckets, half_life: float
    ) -> DecayingHistogram:
        h = cls(buckets, half_life)
        h.reference = float(math.floor(epoch_seconds(checkpoint.reference_time)))
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
