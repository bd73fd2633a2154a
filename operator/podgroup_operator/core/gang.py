"""The gang planner: which waiting gangs fit on the cluster now, and where each member goes.

Pure and deterministic: the same snapshot gives the same plan. Gangs are considered in order
(higher pod priority first, then oldest, then by name). A gang is admitted when at least its
minimum per role can be placed at once, with the capacity already taken by bound pods and
by earlier admissions that kube-scheduler has not bound yet (reservations). A gang that does
not fit is passed by smaller ones behind it, until it has waited `starvation_seconds`: then
no gang behind it is admitted until it is, so it cannot be starved forever.

Each member goes to the allowed node with the least CPU left that still fits it (best fit,
ties to the first node by name), largest roles first. Without topology the plan is exactly
the one of the reference planner (bench/reference_planner.py, proven equal on random
snapshots); what changed is the cost: see core/capacity.py for the index, and below for the
memo that answers identical refused gangs once per state of the cluster.

Topology (core/topology.py): a gang, or a role, may ask for its members within one domain of
a node label. Domains are tried narrowest level first, the fullest domain that may hold the
members first (best fit again), so a gang never takes a roomy domain another could need.
Capacity a gang takes is gone for the gangs after it: two gangs never split one domain's
room between them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from podgroup_operator.core.capacity import Buckets, CapacityIndex, ResourceAxes, Vector, View, domain_set
from podgroup_operator.core.placement import Constraints, NodeInfo, node_allows
from podgroup_operator.core.quantity import format_cpu, format_memory
from podgroup_operator.core.resources import Resources
from podgroup_operator.core.topology import TopologyRequest

GroupKey = tuple[str, str]
Scope = tuple[tuple[str, str], ...]  # (label, value) pairs every node in it carries


@dataclass(frozen=True)
class MemberRequest:
    name: str
    role: str
    requests: Resources
    constraints: Constraints


@dataclass(frozen=True)
class GangRequest:
    key: GroupKey
    priority: int
    waiting_since: datetime
    # Per role: how many of the gated members below must be placed together for admission.
    needed: Mapping[str, int]
    members: tuple[MemberRequest, ...]  # the gated members, in index order
    topology: TopologyRequest | None = None  # the whole gang within one domain
    role_topology: Mapping[str, TopologyRequest] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    key: GroupKey
    admitted: bool
    placements: Mapping[str, str] = field(default_factory=dict)  # member name -> node name
    message: str = ""
    domain: str = ""  # the topology domain(s) chosen, when the gang asked for one


def _shape(requests: Resources) -> str:
    cpu, mem = requests.get("cpu", Decimal(0)), requests.get("memory", Decimal(0))
    return f"{format_cpu(cpu)} CPU / {format_memory(mem)}"


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


@dataclass
class _Member:
    """A member as the index sees it: its constraint key and its request in milli-units."""

    request: MemberRequest
    ckey: str
    need: Vector


class _TopologyMiss(Exception):
    """No domain of a required level holds the members: the reason goes to the gang's status."""


_CHUNK = 500  # nodes or members read between two steps of plan_steps


class _Planner:
    def __init__(self, nodes: Sequence[NodeInfo], free: Mapping[str, Mapping[str, Decimal]]) -> None:
        self.nodes = sorted(nodes, key=lambda n: n.name)
        names: set[str] = set()
        for n in self.nodes:
            names.update(n.allocatable)
        for res in free.values():
            names.update(res)
        self.axes = ResourceAxes(names)
        self._free_source = free
        self.now = CapacityIndex([], len(self.axes.names))
        self._empty: CapacityIndex | None = None
        self._constraints: dict[str, Constraints] = {}
        self._ckeys: dict[int, str] = {}
        self._simple_ckeys: dict[tuple[tuple[str, str], ...], str] = {}
        self._keep: list[Constraints] = []
        self._allowed: dict[str, list[int]] = {}
        self._grouped: dict[tuple[str, Scope, str], dict[str, list[int]]] = {}
        self._tables: dict[tuple[int, str, Scope, str], dict[str, View]] = {}
        self._domain_sets: dict[tuple[int, str, Scope, str], Buckets[str]] = {}
        self._refused: dict[tuple[object, int], tuple[str, str]] = {}
        self._could_fit: dict[object, bool] = {}

    # --- which nodes ------------------------------------------------------------------------------

    def ckey(self, c: Constraints) -> str:
        # Members of a role share their constraints: key them once per object (and, for the
        # common node-selector-only case, once per selector), filter once per key.
        key = self._ckeys.get(id(c))
        if key is None:
            simple = None if c.required_terms or c.tolerations else tuple(sorted(c.node_selector.items()))
            key = self._simple_ckeys.get(simple) if simple is not None else None
            if key is None:
                key = json.dumps([c.node_selector, c.required_terms, c.tolerations], sort_keys=True)
                if simple is not None:
                    self._simple_ckeys[simple] = key
            self._ckeys[id(c)] = key
            self._keep.append(c)  # ids stay unique while the pass runs
            self._constraints.setdefault(key, c)
        return key

    def prepare(self, gangs: Sequence[GangRequest]) -> Iterator[None]:
        """The work every pass does first, in chunks: capacity vectors, node filters."""
        vectors: list[Vector | None] = []
        for start in range(0, len(self.nodes), _CHUNK):
            free = self._free_source
            chunk = self.nodes[start : start + _CHUNK]
            vectors += [self.axes.capacity(free[n.name]) if n.name in free else None for n in chunk]
            yield
        self.now = CapacityIndex(vectors, len(self.axes.names))
        seen = 0
        for gang in gangs:
            for m in gang.members:
                ckey = self.ckey(m.constraints)
                if ckey not in self._allowed:
                    c, allowed = self._constraints[ckey], []
                    for start in range(0, len(self.nodes), _CHUNK):
                        part = enumerate(self.nodes[start : start + _CHUNK], start)
                        allowed += [i for i, n in part if node_allows(n, c)]
                        yield
                    self._allowed[ckey] = allowed
            seen += len(gang.members)
            if seen >= _CHUNK:
                seen = 0
                yield

    def allowed(self, ckey: str) -> list[int]:
        nodes = self._allowed.get(ckey)
        if nodes is None:
            c = self._constraints[ckey]
            nodes = [i for i, n in enumerate(self.nodes) if node_allows(n, c)]
            self._allowed[ckey] = nodes
        return nodes

    def members_of(self, ckey: str, scope: Scope) -> list[int]:
        if not scope:
            return self.allowed(ckey)
        parent, (label, value) = scope[:-1], scope[-1]
        return self.domains(ckey, parent, label).get(value, [])

    def domains(self, ckey: str, scope: Scope, label: str) -> dict[str, list[int]]:
        """The nodes of `scope` that `ckey` allows, by their value of `label`."""
        key = (ckey, scope, label)
        groups = self._grouped.get(key)
        if groups is None:
            groups = {}
            for i in self.members_of(ckey, scope):
                value = self.nodes[i].labels.get(label)
                if value is not None:
                    groups.setdefault(value, []).append(i)
            self._grouped[key] = groups
        return groups

    def view(self, index: CapacityIndex, ckey: str, scope: Scope) -> View:
        return index.view((ckey, scope), lambda: self.members_of(ckey, scope))

    def domain_table(self, index: CapacityIndex, ckey: str, scope: Scope, label: str) -> dict[str, View]:
        """The views of the domains of `label` inside `scope`, made once per pass."""
        key = (id(index), ckey, scope, label)
        table = self._tables.get(key)
        if table is None:
            table = {
                v: self.view(index, ckey, (*scope, (label, v))) for v in self.domains(ckey, scope, label)
            }
            self._tables[key] = table
        return table

    def domain_order(
        self, index: CapacityIndex, need: Vector, by_ckey: Mapping[str, object], scope: Scope, label: str
    ) -> Iterator[str]:
        ckey = next(iter(by_ckey))
        groups = self.domains(ckey, scope, label)
        if all(len(nodes) == 1 for nodes in groups.values()):
            # One node a domain (hostname): the nodes' own index orders them, no view per domain.
            view = self.view(index, ckey, scope)
            return (
                self.nodes[n].labels[label]
                for n in view.nodes.covering(need)
                if self.nodes[n].labels.get(label) is not None
            )
        key = (id(index), ckey, scope, label)
        domains = self._domain_sets.get(key)
        if domains is None:
            domains = domain_set(self.domain_table(index, ckey, scope, label))
            self._domain_sets[key] = domains
        return domains.covering(need)

    def empty(self) -> CapacityIndex:
        """The nodes as if nothing ran on them (the nodes whose free capacity is known)."""
        if self._empty is None:
            self._empty = CapacityIndex(
                [
                    self.axes.capacity(n.allocatable) if n.name in self._free_source else None
                    for n in self.nodes
                ],
                len(self.axes.names),
            )
        return self._empty

    # --- placing ----------------------------------------------------------------------------------

    def member(self, m: MemberRequest) -> _Member:
        return _Member(m, self.ckey(m.constraints), self.axes.request(m.requests))

    def place(self, index: CapacityIndex, m: _Member, scope: Scope) -> int | None:
        node = self.view(index, m.ckey, scope).best_fit(m.need)
        if node is not None:
            index.take(node, m.need)
        return node

    def place_all(
        self, index: CapacityIndex, members: Sequence[_Member], scope: Scope, out: dict[str, int]
    ) -> int:
        """Places the members in order, skipping those that do not fit; returns how many did not."""
        missed = 0
        for m in members:
            node = self.place(index, m, scope)
            if node is None:
                missed += 1
            else:
                out[m.request.name] = node
        return missed

    def in_domain(
        self,
        index: CapacityIndex,
        topology: TopologyRequest,
        members: Sequence[_Member],
        scope: Scope,
        fill: Callable[[Scope], str | None],
        who: str,
    ) -> str:
        """Runs `fill` (all or nothing) in the first domain that takes it; returns the domain."""
        by_ckey: dict[str, list[int]] = {}
        for m in members:
            total = by_ckey.setdefault(m.ckey, [0] * index.width)
            for i, q in enumerate(m.need):
                total[i] += q
        for label in topology.search_levels():
            # The bound first, with no per-node work: domains whose summed room covers the
            # summed need, the fullest first (best fit over domains).
            (first_need, *_), *rest = [(tuple(total), ckey) for ckey, total in by_ckey.items()]
            others = [(self.domain_table(index, ckey, scope, label), n) for n, ckey in rest]
            candidates = (
                value
                for value in self.domain_order(index, first_need, by_ckey, scope, label)
                if all((v := t.get(value)) is not None and v.could_hold(n) for t, n in others)
            )
            for value in candidates:
                mark = index.mark()
                inner = (*scope, (label, value))
                chosen = fill(inner)
                if chosen is not None:
                    return f"{label}={value}" + (f" ({chosen})" if chosen else "")
                index.rollback(mark)
        if topology.required:
            shapes = Counter(_shape(m.request.requests) for m in members)
            what = ", ".join(f"{n} of {shape}" for shape, n in shapes.items())
            raise _TopologyMiss(
                f"{who}needs {len(members)} pods ({what}) within one {topology.level} domain; "
                f"none has room for them at once"
            )
        chosen = fill(scope)
        if chosen is None:
            raise _TopologyMiss("")  # does not fit even spread: the plain shortfall says why
        return "spread" + (f" ({chosen})" if chosen else "")

    def place_gang(
        self, index: CapacityIndex, gang: GangRequest, needed: list[_Member], out: dict[str, int]
    ) -> str | None:
        """Places the needed members, all or nothing. Returns the domains chosen ("" with no
        topology), or None when they do not fit; raises _TopologyMiss with the reason when no
        domain a required topology allows holds them."""
        if gang.topology is None and not gang.role_topology:
            mark = index.mark()
            if self.place_all(index, needed, (), out):
                index.rollback(mark)
                return None
            return ""
        roles: dict[str, list[_Member]] = {}
        for m in needed:
            roles.setdefault(m.request.role, []).append(m)

        def fill(scope: Scope) -> str | None:
            mark, chosen = index.mark(), []
            placed: dict[str, int] = {}
            try:
                for role, members in roles.items():
                    t = gang.role_topology.get(role)
                    if t is None:
                        if self.place_all(index, members, scope, placed):
                            raise _TopologyMiss("")
                        continue

                    def fill_role(inner: Scope, members: list[_Member] = members) -> str | None:
                        return "" if not self.place_all(index, members, inner, placed) else None

                    where = self.in_domain(index, t, members, scope, fill_role, f"role {role} ")
                    chosen.append(f"{role}: {where}")
            except _TopologyMiss:
                index.rollback(mark)
                if gang.topology is None:
                    raise
                return None
            out.update(placed)
            return "; ".join(chosen)

        if gang.topology is None:
            mark = index.mark()
            try:
                return fill(())
            except _TopologyMiss:
                index.rollback(mark)
                raise
        return self.in_domain(index, gang.topology, needed, (), fill, "")


def _signature(gang: GangRequest, needed: Sequence[_Member]) -> object:
    """What the gang's outcome depends on besides the cluster: equal signatures, equal answers."""
    return (
        tuple((m.request.role, m.ckey, m.need) for m in needed),
        gang.topology,
        tuple(sorted(gang.role_topology.items())),
    )


def _refusal(planner: _Planner, gang: GangRequest, needed: list[_Member], miss: str | None) -> str:
    """Say what the gang needs and how much of it fits now, e.g. for a Pending condition."""
    if miss:
        return miss
    index = planner.now
    mark = index.mark()
    placed = len(needed) - planner.place_all(index, needed, (), {})
    index.rollback(mark)
    shapes = Counter(_shape(m.request.requests) for m in needed)
    what = ", ".join(f"{n} of {shape}" for shape, n in shapes.items())
    if not any(planner.allowed(m.ckey) for m in needed):
        return f"needs {len(needed)} pods ({what}); no node matches their selectors, affinity and tolerations"
    return f"needs {len(needed)} pods ({what}) at once; at most {placed} fit now"


def _try_gang(planner: _Planner, gang: GangRequest) -> tuple[dict[str, str] | None, str, str]:
    """(placements, refusal message, domain) for one gang, against the current state."""
    raw = _needed_members(gang)
    if raw is None:
        missing = [r for r, n in gang.needed.items() if sum(m.role == r for m in gang.members) < n]
        return None, f"waiting for the members of role {missing[0]} to be created", ""
    needed = [planner.member(m) for m in raw]
    index = planner.now
    memo = (_signature(gang, needed), index.version)
    if memo in planner._refused:  # an identical gang was refused since the last change
        message, _ = planner._refused[memo]
        return None, message, ""
    placed: dict[str, int] = {}
    miss: str | None = None
    try:
        domain = planner.place_gang(index, gang, needed, placed)
    except _TopologyMiss as exc:
        domain, miss = None, str(exc)
    if domain is None:
        message = _refusal(planner, gang, needed, miss)
        planner._refused[memo] = (message, "")
        return None, message, ""
    # Members beyond the minimum join when they fit, in the domain of the gang when it has one.
    scope: Scope = ()
    if gang.topology is not None and domain and not domain.startswith("spread"):
        label, _, value = domain.split(" (", 1)[0].partition("=")
        scope = ((label, value),)
    names = {m.name for m in raw}
    extras = [planner.member(m) for m in gang.members if m.name not in names]
    planner.place_all(index, extras, scope, placed)
    index.commit()
    return {name: planner.nodes[n].name for name, n in placed.items()}, "", domain


def _could_fit(planner: _Planner, gang: GangRequest) -> bool:
    """Whether waiting can help: its members exist and would fit on the nodes if they were empty.
    Only such a gang may stop the gangs behind it; any other would stop them forever."""
    raw = _needed_members(gang)
    if raw is None:
        return False
    needed = [planner.member(m) for m in raw]
    sig = _signature(gang, needed)
    if sig not in planner._could_fit:
        index = planner.empty()
        mark = index.mark()
        try:
            ok = planner.place_gang(index, gang, needed, {}) is not None
        except _TopologyMiss:
            ok = False
        index.rollback(mark)
        planner._could_fit[sig] = ok
    return planner._could_fit[sig]


def plan_steps(
    nodes: Sequence[NodeInfo],
    free: Mapping[str, Mapping[str, Decimal]],
    gangs: Sequence[GangRequest],
    *,
    now: datetime,
    starvation_seconds: float,
) -> Generator[None, None, list[Verdict]]:
    """The pass, one gang a step: a caller on an event loop may give the loop back between
    steps (runtime/slices.py), since a pass over thousands of gangs takes longer than any
    one watch event may wait. Returns the verdicts, as plan_admissions does."""
    planner = _Planner(nodes, free)
    yield from planner.prepare(gangs)
    verdicts = []
    blocker: GangRequest | None = None
    for gang in sorted(gangs, key=lambda g: (-g.priority, g.waiting_since, g.key)):
        yield
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
        placements, message, domain = _try_gang(planner, gang)
        if placements is not None:
            verdicts.append(Verdict(gang.key, True, placements, domain=domain))
            continue
        verdicts.append(Verdict(gang.key, False, message=message))
        if (now - gang.waiting_since).total_seconds() >= starvation_seconds and _could_fit(planner, gang):
            blocker = gang
    return verdicts


def plan_admissions(
    nodes: Sequence[NodeInfo],
    free: Mapping[str, Mapping[str, Decimal]],
    gangs: Sequence[GangRequest],
    *,
    now: datetime,
    starvation_seconds: float,
) -> list[Verdict]:
    steps = plan_steps(nodes, free, gangs, now=now, starvation_seconds=starvation_seconds)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
