"""Running one fault's trials: each returns its outcome; all are recorded, then judged."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from tests.reliability.figures import FIGURES, Trial

# Every fault here is given this long to converge after it ends before a trial counts as failed.
CONVERGE_SECONDS = float(os.environ.get("PGO_RELIABILITY_CONVERGE_SECONDS") or 180)


def trials() -> int:
    """Trials per fault: PGO_RELIABILITY_TRIALS, else 20."""
    return int(os.environ.get("PGO_RELIABILITY_TRIALS") or 20)


def run_trials(fault: str, count: int, trial: Callable[[int], Trial]) -> None:
    start = time.monotonic()
    for i in range(count):
        try:
            outcome = trial(i)
        except Exception as exc:  # a trial that cannot even run is a failed trial, not a lost figure
            outcome = Trial(fault, i, None, [f"trial raised {type(exc).__name__}: {exc}"])
        FIGURES.record(outcome)
    FIGURES.wall_seconds[fault] = time.monotonic() - start
    failed = FIGURES.failed(fault)
    assert not failed, f"{len(failed)}/{count} trials of {fault} violated invariants: " + "; ".join(
        f"#{t.trial}: {t.violations[:5]}" for t in failed[:5]
    )
