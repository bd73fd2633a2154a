"""Which nodes a pod may run on: the filters of kube-scheduler that a gang planner must agree
with (node selector, required node affinity, taints and tolerations, node resources).

Not modelled (documented limits): inter-pod affinity and anti-affinity, topology spread,
host ports, volume topology. A gang whose pods need them may still be refused by
kube-scheduler after release; the schedule timeout then rolls it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resources import Resources

HOSTNAME_LABEL = "kubernetes.io/hostname"


@dataclass(frozen=True)
class NodeInfo:
    name: str
    labels: Mapping[str, str]
    allocatable: Resources
    taints: tuple[Mapping[str, Any], ...]
    unschedulable: bool
    # status.declaredFeatures (KEP-5328): features the scheduler requires of nodes for pods using them.
    declared_features: frozenset[str] = frozenset()

    @property
    def hostname(self) -> str:
        return self.labels.get(HOSTNAME_LABEL, self.name)


def observe_node(node: Mapping[str, Any]) -> NodeInfo:
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    allocatable = {}
    for name, q in (status.get("allocatable") or {}).items():
        try:
            allocatable[name] = parse_quantity(q)
        except ValueError:
            continue  # a resource we cannot read is one we cannot promise
    return NodeInfo(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        allocatable=allocatable,
        taints=tuple(spec.get("taints") or ()),
        unschedulable=bool(spec.get("unschedulable")),
        declared_features=frozenset(status.get("declaredFeatures") or ()),
    )


@dataclass(frozen=True)
class Constraints:
    """The parts of a pod spec that choose nodes."""

    node_selector: Mapping[str, str]
    required_terms: tuple[Mapping[str, Any], ...]
    tolerations: tuple[Mapping[str, Any], ...]


def constraints_of(spec: Mapping[str, Any]) -> Constraints:
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    return Constraints(
        node_selector=dict(spec.get("nodeSelector") or {}),
        required_terms=tuple(affinity.get("nodeSelectorTerms") or ()),
        tolerations=tuple(spec.get("tolerations") or ()),
    )


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (
        taint.get("value") or ""
    )


def _requirement(req: Mapping[str, Any], value: str | None) -> bool:
    op, values = req.get("operator"), req.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            node_value, bound = int(value), int(values[0])
        except ValueError:
            return False
        return node_value > bound if op == "Gt" else node_value < bound
    return False


def _term_matches(term: Mapping[str, Any], node: NodeInfo) -> bool:
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term selects no node
    return all(_requirement(r, node.labels.get(r.get("key", ""))) for r in exprs) and all(
        _requirement(r, node.name if r.get("key") == "metadata.name" else None) for r in fields
    )


def node_allows(node: NodeInfo, c: Constraints) -> bool:
    """Whether kube-scheduler's filters (other than resources) let the pod onto the node."""
    if node.unschedulable and not any(
        _tolerates(t, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        for t in c.tolerations
    ):
        return False
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(
            _tolerates(t, taint) for t in c.tolerations
        ):
            return False
    if any(node.labels.get(k) != v for k, v in c.node_selector.items()):
        return False
    return not c.required_terms or any(_term_matches(t, node) for t in c.required_terms)


def fits(free: Mapping[str, Decimal], requests: Resources) -> bool:
    return all(free.get(name, Decimal(0)) >= q for name, q in requests.items() if q > 0)


def subtract(free: dict[str, Decimal], requests: Resources) -> None:
    for name, q in requests.items():
        free[name] = free.get(name, Decimal(0)) - q


def free_capacity(nodes: Sequence[NodeInfo], used: Mapping[str, Resources]) -> dict[str, dict[str, Decimal]]:
    """Allocatable minus what bound and reserved pods request, per node."""
    free = {}
    for node in nodes:
        remaining = dict(node.allocatable)
        subtract(remaining, used.get(node.name, {}))
        free[node.name] = remaining
    return free


def room_on_node(
    allocatable: Mapping[str, Decimal], on_node: Iterable[Mapping[str, Decimal]], own: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """What a pod's node can still give it: allocatable minus the requests of the pods there
    (`on_node`, this pod among them), its own requests given back."""
    room = dict(allocatable)
    for requests in on_node:
        for r, q in requests.items():
            room[r] = room.get(r, Decimal(0)) - q
    for r, q in own.items():
        room[r] = room.get(r, Decimal(0)) + q
    return room


def member_room(
    node_name: str | None,
    own: Mapping[str, Decimal],
    nodes: Mapping[str, Iterable[NodeInfo]],
    node_pods: Mapping[str, Iterable[Mapping[str, Decimal]]],
) -> dict[str, Decimal] | None:
    """What a member's node can still give it, read from the node and node-pods indexes; None
    while it has no node, or its node is not (or no longer) known."""
    if node_name is None:
        return None
    node = next(iter(nodes.get(node_name) or ()), None)
    if node is None:
        return None
    return room_on_node(node.allocatable, node_pods.get(node_name, ()), own)
