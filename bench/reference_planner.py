"""The gang planner as it was before issue #14, kept unchanged as the reference the new
planner is measured against (bench/planner.py) and proven equal to on random snapshots
without topology (tests/unit/test_gang_planner_equivalence.py).

One pass copies the free capacity per gang, scans every allowed node per member, and
replays the placement for each refused gang's message: O(gangs x members x nodes).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from podgroup_operator.core.gang import GangRequest, MemberRequest, Verdict
from podgroup_operator.core.placement import Constraints, NodeInfo, fits, node_allows, subtract
from podgroup_operator.core.quantity import format_cpu, format_memory
from podgroup_operator.core.resources import Resources


def _shape(requests: Resources) -> str:
    cpu, mem = requests.get("cpu", Decimal(0)), requests.get("memory", Decimal(0))
    return f"{format_cpu(cpu)} CPU / {format_memory(mem)}"


class _Snapshot:
    def __init__(self, nodes: Sequence[NodeInfo], free: Mapping[str, Mapping[str, Decimal]]) -> None:
        self.nodes = sorted(nodes, key=lambda n: n.name)
        self.free = {name: dict(res) for name, res in free.items()}
        self._allowed: dict[str, list[NodeInfo]] = {}

    def allowed(self, c: Constraints) -> list[NodeInfo]:
        # Members of a role share their constraints: filter the nodes once per shape.
        key = json.dumps([c.node_selector, c.required_terms, c.tolerations], sort_keys=True)
        if key not in self._allowed:
            self._allowed[key] = [n for n in self.nodes if node_allows(n, c)]
        return self._allowed[key]

    def place(self, member: MemberRequest, free: dict[str, dict[str, Decimal]]) -> str | None:
        """Best fit: the allowed node with the least CPU left that still fits the member."""
        best, best_left = None, None
        for node in self.allowed(member.constraints):
            room = free.get(node.name)
            if room is None or not fits(room, member.requests):
                continue
            left = room.get("cpu", Decimal(0)) - member.requests.get("cpu", Decimal(0))
            if best_left is None or left < best_left:
                best, best_left = node.name, left
        if best is not None:
            subtract(free[best], member.requests)
        return best


def _role_order(by_role: Mapping[str, Sequence[MemberRequest]]) -> list[str]:
    """Largest members first: they are the hardest to place."""
    return sorted(
        by_role,
        key=lambda r: (
            -by_role[r][0].requests.get("cpu", Decimal(0)),
            -by_role[r][0].requests.get("memory", Decimal(0)),
            r,
        ),
    )


def _needed_members(gang: GangRequest) -> list[MemberRequest] | None:
    """The members that must be placed together, in placement order; None when some are missing."""
    by_role: dict[str, list[MemberRequest]] = {}
    for m in gang.members:
        by_role.setdefault(m.role, []).append(m)
    if any(len(by_role.get(role, [])) < n for role, n in gang.needed.items()):
        return None
    return [m for role in _role_order(by_role) for m in by_role[role][: gang.needed.get(role, 0)]]


def _try_gang(snap: _Snapshot, gang: GangRequest) -> tuple[dict[str, str] | None, str]:
    needed = _needed_members(gang)
    if needed is None:
        missing = [r for r, n in gang.needed.items() if sum(m.role == r for m in gang.members) < n]
        return None, f"waiting for the members of role {missing[0]} to be created"
    free = {name: dict(res) for name, res in snap.free.items()}
    placements: dict[str, str] = {}
    for member in needed:
        node = snap.place(member, free)
        if node is None:
            return None, _shortfall(snap, gang)
        placements[member.name] = node
    for member in gang.members:  # members beyond the minimum join when they fit
        if member.name not in placements and (node := snap.place(member, free)) is not None:
            placements[member.name] = node
    snap.free = free
    return placements, ""


def _shortfall(snap: _Snapshot, gang: GangRequest) -> str:
    """Say what the gang needs and how much of it fits now, e.g. for a Pending condition."""
    free = {name: dict(res) for name, res in snap.free.items()}
    needed = _needed_members(gang) or []
    placed = sum(1 for m in needed if snap.place(m, free) is not None)
    shapes = Counter(_shape(m.requests) for m in needed)
    what = ", ".join(f"{n} of {shape}" for shape, n in shapes.items())
    if not any(snap.allowed(m.constraints) for m in needed):
        return f"needs {len(needed)} pods ({what}); no node matches their selectors, affinity and tolerations"
    return f"needs {len(needed)} pods ({what}) at once; at most {placed} fit now"


def _could_fit(snap: _Snapshot, gang: GangRequest) -> bool:
    """Whether waiting can help: its members exist and would fit on the nodes if they were empty.
    Only such a gang may stop the gangs behind it; any other would stop them forever."""
    needed = _needed_members(gang)
    if needed is None:
        return False
    empty = {n.name: dict(n.allocatable) for n in snap.nodes if n.name in snap.free}
    return all(snap.place(m, empty) is not None for m in needed)


def plan_admissions(
    nodes: Sequence[NodeInfo],
    free: Mapping[str, Mapping[str, Decimal]],
    gangs: Sequence[GangRequest],
    *,
    now: datetime,
    starvation_seconds: float,
) -> list[Verdict]:
    snap = _Snapshot(nodes, free)
    verdicts = []
    blocker: GangRequest | None = None
    for gang in sorted(gangs, key=lambda g: (-g.priority, g.waiting_since, g.key)):
        if blocker is not None:
            verdicts.append(
                Verdict(
                    gang.key,
                    False,
                    message=f"waiting behind {blocker.key[0]}/{blocker.key[1]}, which has "
                    f"waited longer than {int(starvation_seconds)}s",
                )
            )
            continue
        placements, message = _try_gang(snap, gang)
        if placements is not None:
            verdicts.append(Verdict(gang.key, True, placements))
            continue
        verdicts.append(Verdict(gang.key, False, message=message))
        if (now - gang.waiting_since).total_seconds() >= starvation_seconds and _could_fit(snap, gang):
            blocker = gang
    return verdicts
