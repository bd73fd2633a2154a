"""Everything the operator keeps in memory between reconciles, in one place.

Per PodGroup incarnation, keyed by (namespace, name, uid): a group deleted and created again
under the same name has a new uid and starts from nothing, and a delete forgets it all in one
call. Each field says why losing it (an operator restart) is safe; README "What is kept in
memory" lists the same."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podgroup_operator.api.models import PodGroupStatus
from podgroup_operator.core.admission import Placed
from podgroup_operator.core.resize.usage import RoleUsage, UsageSample

GroupKey = tuple[str, str]  # (namespace, name)


@dataclass
class GroupMemory:
    uid: str
    # The last status written: the watch may not have delivered our own write yet, so the same
    # status is not written (or announced) twice. Lost: written once more.
    last_status: dict[str, Any] | None = None
    # The failure record written and not yet seen through the watch: a reconcile on the older
    # status completes that decision instead of deciding (and announcing) it again.
    # Lost: the watch delivers it, since it is in status.
    failure_record: PodGroupStatus | None = None
    # The gang planner's latest word on this waiting gang. Lost: recomputed on the next pass.
    waiting: str | None = None
    # Members created by this process that the pod index does not show yet (name -> when).
    # Lost: the index lists them after a restart.
    created: dict[str, datetime] = field(default_factory=dict)
    # Members of a failed group given their stop deadline by this process that the index does
    # not show stopped yet (uids). Lost: the stop is written again, which is harmless.
    stopping: set[str] = field(default_factory=set)
    # Gang members released by this process that the index does not show released yet (member ->
    # planned node): their placements stay reserved. Lost: released members carry their planned
    # node in an annotation, which the index reads back.
    reserved: dict[str, str] = field(default_factory=dict)
    # Gang members placed at creation (created released) that the index does not show yet:
    # their room stays reserved, until PLACED_HOLD at most. Lost: created members carry their
    # planned node in an annotation, which the index reads back.
    placed: dict[str, Placed] = field(default_factory=dict)
    # What the recommender has learnt, per (role, member or None for the whole role), and when it
    # was last checkpointed into status.resize.usage. Lost: resumed from the checkpoint.
    usage: dict[tuple[str, str | None], RoleUsage] = field(default_factory=dict)
    checkpointed: datetime | None = None
    # The last look at the group's Service: why it is not the group's own ("" when it is), None
    # before the first look. Looked at again only when a Service of the group's name is deleted.
    # Lost: looked at again.
    service_problem: str | None = None


@dataclass
class ScrapeBeat:
    """When the metrics source last sampled, and how often it does. metrics-server scrapes every
    pod at once, so one beat serves every group: a new group (no sample of its own yet) is read
    on the beat from its first reconcile, not a whole interval out of phase with it."""

    newest: datetime | None = None
    window: float | None = None

    def update(self, samples: Sequence[UsageSample]) -> None:
        newest = max((s.time for s in samples), default=None)
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
            self.window = max((s.window_seconds or 0.0 for s in samples), default=0.0) or self.window


class OperatorMemory:
    """The one owner of the operator's in-memory state."""

    def __init__(self) -> None:
        self._groups: dict[GroupKey, GroupMemory] = {}
        self.scrape_beat = ScrapeBeat()  # one for the whole operator: see ScrapeBeat

    def of(self, key: GroupKey, uid: str) -> GroupMemory:
        """This incarnation's memory; what an older group of the same name left is dropped."""
        memory = self._groups.get(key)
        if memory is None or memory.uid != uid:
            memory = self._groups[key] = GroupMemory(uid)
        return memory

    def known(self, key: GroupKey) -> GroupMemory | None:
        """The memory held under this name, whichever incarnation it is of, without making one."""
        return self._groups.get(key)

    def groups(self) -> list[tuple[GroupKey, GroupMemory]]:
        return list(self._groups.items())

    def forget(self, key: GroupKey) -> None:
        self._groups.pop(key, None)
