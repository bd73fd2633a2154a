"""Trial outcomes, kept for the session: printed at its end and written as JSON for the docs."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Trial:
    fault: str
    trial: int
    converged_seconds: float | None  # after the fault ended; None = did not converge
    violations: list[str]
    detail: dict[str, float | int | str] = field(default_factory=dict)


@dataclass
class Figures:
    trials: list[Trial] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    wall_seconds: dict[str, float] = field(default_factory=dict)

    def record(self, trial: Trial) -> None:
        self.trials.append(trial)
        if os.environ.get("PGO_RELIABILITY_VERBOSE"):
            print(
                f"\n{trial.fault} #{trial.trial}: {trial.converged_seconds} {trial.violations} {trial.detail}"
            )

    def failed(self, fault: str) -> list[Trial]:
        return [t for t in self.trials if t.fault == fault and t.violations]

    def summary(self) -> list[str]:
        lines = [f"{'fault':<34} {'trials':>6} {'viol':>5}  converged s: min / median / p90 / max  wall s"]
        for fault in dict.fromkeys(t.fault for t in self.trials):
            mine = [t for t in self.trials if t.fault == fault]
            times = sorted(t.converged_seconds for t in mine if t.converged_seconds is not None)
            bad = sum(1 for t in mine if t.violations)
            spread = (
                f"{times[0]:.1f} / {statistics.median(times):.1f} / "
                f"{times[min(len(times) - 1, int(0.9 * len(times)))]:.1f} / {times[-1]:.1f}"
                if times
                else "-"
            )
            wall = self.wall_seconds.get(fault)
            lines.append(
                f"{fault:<34} {len(mine):>6} {bad:>5}  {spread:<36} {wall:.0f}"
                if wall
                else f"{fault:<34} {len(mine):>6} {bad:>5}  {spread}"
            )
        return lines

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"trials": [asdict(t) for t in self.trials], "wall_seconds": self.wall_seconds}
        path.write_text(json.dumps(body, indent=1))


FIGURES = Figures()
