"""The writes to member pods a plan holds, as data: handlers/plan_executor.py sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podgroup_operator.core.conditions import Event


@dataclass(frozen=True)
class PodCreate:
    member: str
    body: dict[str, Any]


@dataclass(frozen=True)
class PodDelete:
    name: str
    uid: str


@dataclass(frozen=True)
class PodPatch:
    name: str
    uid: str
    patch: dict[str, Any]


@dataclass(frozen=True)
class PodWrites:
    """Deletes and patches of members, and the events that say why (a failure action's)."""

    deletes: tuple[PodDelete, ...] = ()
    patches: tuple[PodPatch, ...] = ()
    events: tuple[Event, ...] = ()

    def __add__(self, other: PodWrites) -> PodWrites:
        return PodWrites(
            self.deletes + other.deletes, self.patches + other.patches, self.events + other.events
        )
