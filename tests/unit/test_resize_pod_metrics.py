"""core.resize.pod_metrics: PodMetrics as metrics-server serves them, read into samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podgroup_operator.core.resize.pod_metrics import go_duration_seconds, usage_samples


@pytest.mark.parametrize(
    ("printed", "seconds"),
    [("10s", 10.0), ("9.995s", 9.995), ("1m0s", 60.0), ("1h2m3s", 3723.0), ("500ms", 0.5), ("1m30.5s", 90.5)],
)
def test_go_durations_are_read(printed: str, seconds: float) -> None:
    assert go_duration_seconds(printed) == pytest.approx(seconds)


@pytest.mark.parametrize("printed", ["", "10", "s", "10x", "0s", None, 10])
def test_unreadable_or_empty_windows_are_none(printed: object) -> None:
    assert go_duration_seconds(printed) is None


def test_each_container_is_a_sample_and_an_item_without_a_time_is_skipped() -> None:
    items = [
        {
            "metadata": {"name": "train-w-0"},
            "timestamp": "2026-01-02T03:04:05Z",
            "window": "15.02s",
            "containers": [
                {"name": "main", "usage": {"cpu": "250m", "memory": "64Mi"}},
                {"name": "side", "usage": {"memory": "1Ki"}},
            ],
        },
        {"metadata": {"name": "train-w-1"}, "containers": [{"name": "main", "usage": {"cpu": "1"}}]},
    ]
    main, side = usage_samples(items)
    assert (main.pod, main.container, main.cpu_cores, main.memory_bytes) == (
        "train-w-0",
        "main",
        0.25,
        64 * 2**20,
    )
    assert main.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) and main.window_seconds == pytest.approx(
        15.02
    )
    assert (side.cpu_cores, side.memory_bytes) == (None, 1024.0)
