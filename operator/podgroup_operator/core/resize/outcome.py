"""What the resizes of one reconcile come to: the LastResize to record, whether the group
counts as resizing or short of room, the events that announce them, and the results to count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.api.resize import LastResize, ResizeResult
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.resize.plan import PodResize

MAX_MESSAGE = 4096


@dataclass(frozen=True)
class ResizeOutcomes:
    last: LastResize | None
    resizing: str | None  # why the group counts as resizing now
    infeasible: str | None  # a resize the nodes cannot give
    events: tuple[Event, ...]
    results: tuple[ResizeResult, ...]  # one per resize sent or kubelet outcome first seen


def resize_outcomes(
    decisions: Sequence[PodResize], refused: Mapping[str, str | None], last: LastResize | None, now: datetime
) -> ResizeOutcomes:
    """`refused`: per pod resized, the API server's refusal, or None when it took the resize."""
    resizing = infeasible = None
    events: list[Event] = []
    results: list[ResizeResult] = []
    for d in decisions:
        if d.apply:
            error = refused.get(d.pod)
            result = ResizeResult.ERROR if error else (d.result or ResizeResult.APPLIED)
            message = error or d.message
            results.append(result)
            last = LastResize(pod=d.pod, time=now, result=result, message=message[:MAX_MESSAGE])
            kind = "Warning" if result in (ResizeResult.ERROR, ResizeResult.CAPPED) else "Normal"
            events.append(Event(kind, f"Resize{result}", f"pod {d.pod}: {message}"))
            resizing = f"resized pod {d.pod} in place: {message}"
        elif d.result in (ResizeResult.DEFERRED, ResizeResult.INFEASIBLE, ResizeResult.ERROR):
            # An outcome the kubelet reported: record it once, never resend the same resize.
            if last is None or (last.pod, last.result, last.message) != (d.pod, d.result, d.message):
                results.append(d.result)
                last = LastResize(pod=d.pod, time=now, result=d.result, message=d.message[:MAX_MESSAGE])
            resizing = resizing or (
                f"pod {d.pod}: {d.result}: {d.message}" if d.result == "Deferred" else None
            )
        if d.capped or d.result == ResizeResult.INFEASIBLE:  # capped now, or still short of the target
            infeasible = f"pod {d.pod}: {d.message}"
    return ResizeOutcomes(last, resizing, infeasible, tuple(events), tuple(results))
