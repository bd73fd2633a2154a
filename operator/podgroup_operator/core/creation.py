"""How many of a group's missing members one reconcile creates.

A group of a thousand members used to create them all in one reconcile, so every other
group's creations waited behind a thousand requests for the shared write slots. A reconcile
now creates at most `limit` of them and asks to run again at once: the work queue puts the
group behind the others that wait, so groups take turns (round robin).

Pods this process created that its index does not show yet are not created again (the next
batch follows before the watch catches up); after `ttl` they are forgotten, in case one was
deleted before the index ever saw it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from podgroup_operator.core.members import Member


@dataclass(frozen=True)
class CreationBatch:
    create: tuple[Member, ...]
    more: bool  # members are left for the next turn
    pending: dict[str, datetime]  # created by us, not yet seen in the index (name -> when)


def creation_batch(
    missing: Sequence[Member],
    seen: set[str],
    pending: Mapping[str, datetime],
    *,
    now: datetime,
    limit: int,
    ttl: timedelta = timedelta(seconds=30),
) -> CreationBatch:
    still = {name: t for name, t in pending.items() if name not in seen and now - t < ttl}
    todo = [m for m in missing if m.name not in still]
    batch = tuple(todo[:limit])
    return CreationBatch(batch, more=len(todo) > limit, pending=still)
