"""runtime.gc_pauses: a full collection's survivors are frozen outside the collection, a sweep
unfreezes and collects on its cadence, and `PGO_GC_FREEZE=false` leaves the collector alone."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from podgroup_operator.runtime.gc_pauses import GcPauses


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def collection(pauses: GcPauses, generation: int) -> None:
    pauses.on_gc("start", {"generation": generation})
    pauses.on_gc("stop", {"generation": generation, "collected": 0, "uncollectable": 0})


def test_survivors_of_a_full_collection_are_frozen_once() -> None:
    clock = Clock()
    pauses = GcPauses(sweep_seconds=60, clock=clock)
    collection(pauses, 0)
    assert pauses.tend() is None and gc.get_freeze_count() == 0  # young collections: nothing
    collection(pauses, 2)
    assert pauses.tend() == "frozen" and gc.get_freeze_count() > 0
    assert pauses.tend() is None
    assert pauses.max_pause > 0


def test_everything_is_swept_on_its_cadence() -> None:
    clock = Clock()
    pauses = GcPauses(sweep_seconds=60, clock=clock)
    collection(pauses, 2)
    clock.now = 60
    assert pauses.tend() == "swept"
    clock.now = 61
    assert pauses.tend() is None  # the sweep covered the full collection's survivors too


def test_freezing_can_be_turned_off() -> None:
    pauses = GcPauses(freeze=False, clock=Clock())
    collection(pauses, 2)
    assert pauses.tend() is None and gc.get_freeze_count() == 0


def test_what_startup_loaded_is_frozen_when_it_starts() -> None:
    async def main() -> int:
        pauses = GcPauses(clock=Clock())
        pauses.start()
        frozen = gc.get_freeze_count()
        await pauses.stop()
        return frozen

    assert gc.get_freeze_count() == 0
    assert asyncio.run(main()) > 0


def test_nothing_is_frozen_at_start_when_turned_off() -> None:
    async def main() -> int:
        pauses = GcPauses(freeze=False, clock=Clock())
        pauses.start()
        await pauses.stop()
        return gc.get_freeze_count()

    assert asyncio.run(main()) == 0
