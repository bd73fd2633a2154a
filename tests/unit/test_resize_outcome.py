"""core.resize.outcome: what the resizes of one reconcile come to."""

from __future__ import annotations

from datetime import UTC, datetime

from podgroup_operator.api.resize import LastResize, ResizeResult
from podgroup_operator.core.resize.outcome import resize_outcomes
from podgroup_operator.core.resize.plan import Decision, PodResize, ResourcePatch

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GROW = {"main": ResourcePatch({"cpu": 1}, {})}  # type: ignore[dict-item]


def test_a_resize_sent_is_recorded_announced_and_counted() -> None:
    d = PodResize("g-w-0", Decision.RESIZE, GROW, message="cpu 1")
    out = resize_outcomes([d], {"g-w-0": None}, None, NOW)
    assert out.last == LastResize(pod="g-w-0", time=NOW, result=ResizeResult.APPLIED, message="cpu 1")
    assert [(e.type, e.reason) for e in out.events] == [("Normal", "ResizeApplied")]
    assert out.results == (ResizeResult.APPLIED,) and out.resizing == "resized pod g-w-0 in place: cpu 1"


def test_a_refused_resize_is_an_error_with_the_refusal() -> None:
    d = PodResize("g-w-0", Decision.RESIZE, GROW, capped=True, message="cpu 1")
    out = resize_outcomes([d], {"g-w-0": "forbidden"}, None, NOW)
    assert out.last is not None and (out.last.result, out.last.message) == (ResizeResult.ERROR, "forbidden")
    assert [(e.type, e.reason) for e in out.events] == [("Warning", "ResizeError")]
    assert out.infeasible == "pod g-w-0: cpu 1"  # capped


def test_a_kubelet_outcome_is_recorded_once() -> None:
    d = PodResize("g-w-0", Decision.DEFERRED, message="no room yet")
    first = resize_outcomes([d], {}, None, NOW)
    assert first.results == (ResizeResult.DEFERRED,) and first.events == ()
    assert first.resizing == "pod g-w-0: Deferred: no room yet"
    again = resize_outcomes([d], {}, first.last, NOW)
    assert again.results == () and again.last == first.last
