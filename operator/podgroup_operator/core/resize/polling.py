"""When to look at usage again: just after the metrics source's next scrape."""

from __future__ import annotations

from datetime import datetime, timedelta


def next_poll_delay(
    now: datetime,
    newest_sample: datetime | None,
    resolution: float | None,
    interval: float,
    slack: float = 1.0,
) -> float:
    """Seconds until usage is worth reading again: just after the source's next sample is due (its
    newest sample's time + its resolution, + slack for the scrape to land; every `slack` seconds
    while it is late, up to half a resolution), never later than `interval`, never sooner than
    `slack`. Polling on the scrape's beat, not on a fixed interval
    out of phase with it, is what keeps a load change to the PATCH within about one resolution."""
    if newest_sample is None or resolution is None or resolution <= 0:
        return interval
    due = newest_sample + timedelta(seconds=resolution + slack)
    if due <= now < newest_sample + timedelta(seconds=1.5 * resolution):
        return slack  # the next sample is late to show: look again soon, not a scrape later
    if due <= now:  # a missed scrape, or a stopped source: the next slot on the same beat
        missed = (now - due).total_seconds() // resolution + 1
        due += timedelta(seconds=missed * resolution)
    return max(slack, min(interval, (due - now).total_seconds()))
