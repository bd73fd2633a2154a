"""The recommender's parameters: percentiles, margins, half-lives, floors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from podgroup_operator.api.resize import ResizePolicy
from podgroup_operator.core.resize.units import MiB


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

    def oom_target(self, memory_bytes: float) -> float:
        """The memory to give after an OOM kill at `memory_bytes`."""
        return max(memory_bytes * (1 + self.oom_bump), memory_bytes + self.oom_min_bump_bytes)

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
