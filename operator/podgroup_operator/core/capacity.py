"""The free capacity of the nodes, indexed for the gang planner.

Quantities are integers in milli-units (1 CPU = 1000, 1 byte = 1000): requests are rounded
up and capacity down, so integer arithmetic never promises what the Decimal quantities would
not (they agree exactly for anything expressed in whole milli-units, as every CPU quantity
kube-scheduler counts is).

Nodes with the same free capacity are one choice for best fit: a view (the nodes one set of
constraints allows, optionally inside one topology domain) keeps its nodes in classes keyed
by their free vector, sorted by free CPU, so a placement looks at the few classes with enough
CPU instead of every node. Changes go through `take`, which records the previous vector in an
undo log, so trying a gang and giving up costs only the moves it made, not a copy of the cluster.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Generic, TypeVar

Vector = tuple[int, ...]
T = TypeVar("T", int, str)  # node indices or domain names
_MILLI = Decimal(1000)


def to_milli(q: Decimal, *, up: bool) -> int:
    return int((q * _MILLI).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR))


class ResourceAxes:
    """The resource names a pass counts, CPU first (the axis best fit sorts on)."""

    def __init__(self, names: Iterable[str]) -> None:
        rest = sorted(set(names) - {"cpu"})
        self.names: tuple[str, ...] = ("cpu", *rest)
        self._cache: dict[tuple[tuple[str, Decimal], ...], Vector] = {}

    def capacity(self, amounts: Mapping[str, Decimal]) -> Vector:
        return tuple(to_milli(amounts.get(n, Decimal(0)), up=False) for n in self.names)

    def request(self, amounts: Mapping[str, Decimal]) -> Vector:
        # Members of a role share their requests: convert each shape once.
        key = tuple(sorted(amounts.items()))
        vec = self._cache.get(key)
        if vec is None:
            vec = tuple(to_milli(amounts.get(n, Decimal(0)), up=True) for n in self.names)
            self._cache[key] = vec
        return vec


def fits_vector(free: Vector, need: Vector) -> bool:
    # Only what is requested is checked: a zero (or negative) request fits an overcommitted node.
    return all(f >= q for f, q in zip(free, need, strict=True) if q > 0)


class Buckets(Generic[T]):
    """Items grouped by vector, the vectors sorted (CPU first), each group sorted."""

    def __init__(self) -> None:
        self.classes: dict[Vector, list[T]] = {}
        self.keys: list[Vector] = []

    def add(self, item: T, vec: Vector) -> None:
        items = self.classes.get(vec)
        if items is None:
            self.classes[vec] = [item]
            insort(self.keys, vec)
        else:
            insort(items, item)

    def remove(self, item: T, vec: Vector) -> None:
        items = self.classes[vec]
        del items[bisect_left(items, item)]
        if not items:
            del self.classes[vec]
            del self.keys[bisect_left(self.keys, vec)]

    def _start(self, need: Vector) -> int:
        return bisect_left(self.keys, (need[0],)) if need[0] > 0 else 0

    def best_fit(self, need: Vector) -> T | None:
        """The item with the least CPU left after taking `need`; ties go to the first item."""
        keys = self.keys
        i = self._start(need)
        best_cpu, best = None, None
        while i < len(keys):
            vec = keys[i]
            i += 1
            if best_cpu is not None and vec[0] != best_cpu:
                break
            if fits_vector(vec, need):
                first = self.classes[vec][0]
                if best is None or first < best:
                    best_cpu, best = vec[0], first
        return best

    def covering(self, need: Vector) -> Iterator[T]:
        """Every item whose vector covers `need`, the least CPU first. Lazy, since the first
        usually serves; safe against changes the consumer makes and undoes between items."""
        for vec in self.keys[self._start(need) :]:
            if fits_vector(vec, need):
                yield from list(self.classes.get(vec, ()))


class View:
    """Some nodes, grouped by free vector. `total` is their summed free capacity; a domain set
    watching the view keeps the view (as one domain) sorted by it."""

    def __init__(self, members: Sequence[int], free: Sequence[Vector | None], width: int) -> None:
        self.nodes: Buckets[int] = Buckets()
        self.total = [0] * width
        self.size = 0
        self.watchers: list[tuple[Buckets[str], str]] = []
        for n in members:
            vec = free[n]
            if vec is not None:
                self.add(n, vec)

    def add(self, n: int, vec: Vector) -> None:
        self.nodes.add(n, vec)
        for i, q in enumerate(vec):
            self.total[i] += q
        self.size += 1

    def remove(self, n: int, vec: Vector) -> None:
        self.nodes.remove(n, vec)
        for i, q in enumerate(vec):
            self.total[i] -= q
        self.size -= 1

    def best_fit(self, need: Vector) -> int | None:
        return self.nodes.best_fit(need)

    def could_hold(self, need: Vector) -> bool:
        """A bound, before any per-node work: the summed room covers the summed need."""
        return fits_vector(tuple(self.total), need)


def domain_set(views: Mapping[str, View]) -> Buckets[str]:
    """Domains (by name) sorted by their summed free capacity, kept up to date by their views."""
    domains: Buckets[str] = Buckets()
    for value, view in views.items():
        domains.add(value, tuple(view.total))
        view.watchers.append((domains, value))
    return domains


class CapacityIndex:
    """Free vectors of the nodes (by index in name order) and the views over them."""

    def __init__(self, free: Sequence[Vector | None], width: int) -> None:
        self.free: list[Vector | None] = list(free)
        self.width = width  # the number of resource axes
        self._views: dict[object, View] = {}
        self._node_views: list[list[View]] = [[] for _ in free]
        self.undo: list[tuple[int, Vector]] = []
        self.version = 0  # bumped by every committed change: memoised answers stay valid until then

    def view(self, key: object, members: Callable[[], Sequence[int]]) -> View:
        view = self._views.get(key)
        if view is None:
            nodes = members()
            view = View(nodes, self.free, self.width)
            self._views[key] = view
            for n in nodes:
                if self.free[n] is not None:
                    self._node_views[n].append(view)
        return view

    def _set(self, n: int, vec: Vector) -> None:
        old = self.free[n]
        assert old is not None
        for view in self._node_views[n]:
            before = tuple(view.total) if view.watchers else ()
            view.remove(n, old)
            view.add(n, vec)
            if view.watchers:
                after = tuple(view.total)
                for domains, value in view.watchers:
                    domains.remove(value, before)
                    domains.add(value, after)
        self.free[n] = vec

    def take(self, n: int, need: Vector) -> None:
        old = self.free[n]
        assert old is not None
        self.undo.append((n, old))
        self._set(n, tuple(f - q for f, q in zip(old, need, strict=True)))

    def mark(self) -> int:
        return len(self.undo)

    def rollback(self, mark: int) -> None:
        while len(self.undo) > mark:
            n, vec = self.undo.pop()
            self._set(n, vec)

    def commit(self) -> None:
        if self.undo:
            self.undo.clear()
            self.version += 1
