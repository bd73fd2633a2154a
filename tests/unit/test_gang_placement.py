"""core.placement: the kube-scheduler filters the gang planner must agree with: node selector,
required node affinity, taints and tolerations, cordoned nodes, and node resources."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.core.placement import (
    HOSTNAME_LABEL,
    Constraints,
    NodeInfo,
    constraints_of,
    fits,
    free_capacity,
    node_allows,
    observe_node,
    subtract,
)
from podgroup_operator.core.quantity import parse_quantity

Body = dict[str, Any]
GI = 2**30

NODE: Body = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "node-a",
        "uid": "8d0e8a0c-0000-4000-8000-000000000001",
        "labels": {
            HOSTNAME_LABEL: "node-a",
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": "zone-1",
            "disktype": "ssd",
            "cores": "8",
            "flag": "",
            "odd": "8x",
        },
    },
    "spec": {"podCIDR": "10.244.1.0/24"},
    "status": {
        "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        "allocatable": {
            "cpu": "7800m",
            "memory": "31Gi",
            "pods": "110",
            "ephemeral-storage": "95Gi",
            "hugepages-2Mi": "0",
            "nvidia.com/gpu": "2",
        },
    },
}


def node(*, taints: list[Body] | None = None, unschedulable: bool | None = None) -> NodeInfo:
    body: Body = {**NODE, "spec": dict(NODE["spec"])}
    if taints is not None:
        body["spec"]["taints"] = taints
    if unschedulable is not None:
        body["spec"]["unschedulable"] = unschedulable
    return observe_node(body)


# --- observe_node ------------------------------------------------------------------------------


def test_observe_node_reads_a_node() -> None:
    taint = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}
    info = node(taints=[taint], unschedulable=True)
    assert info.name == "node-a"
    assert info.hostname == "node-a"
    assert info.labels["disktype"] == "ssd"
    assert info.allocatable == {
        "cpu": Decimal("7.8"),
        "memory": Decimal(31 * GI),
        "pods": Decimal(110),
        "ephemeral-storage": Decimal(95 * GI),
        "hugepages-2Mi": Decimal(0),
        "nvidia.com/gpu": Decimal(2),
    }
    assert info.taints == (taint,)
    assert info.unschedulable is True


def test_observe_node_defaults() -> None:
    info = observe_node({"metadata": {"name": "bare"}})
    assert info == NodeInfo(name="bare", labels={}, allocatable={}, taints=(), unschedulable=False)
    assert info.hostname == "bare"  # no hostname label: the node name
    assert observe_node({}).name == ""


def test_observe_node_hostname_label_differs_from_name() -> None:
    info = observe_node(
        {"metadata": {"name": "ip-10-0-0-1.ec2.internal", "labels": {HOSTNAME_LABEL: "ip-10-0-0-1"}}}
    )
    assert info.hostname == "ip-10-0-0-1"


def test_observe_node_skips_unreadable_quantities() -> None:
    info = observe_node({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "4", "weird": "lots"}}})
    assert info.allocatable == {"cpu": Decimal(4)}


def test_observe_node_copies_labels() -> None:
    labels = {"a": "1"}
    info = observe_node({"metadata": {"name": "n", "labels": labels}})
    labels["a"] = "2"
    assert info.labels == {"a": "1"}


# --- constraints_of ------------------------------------------------------------------------------


def test_constraints_of_reads_the_scheduling_fields() -> None:
    term = {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}
    toleration = {"key": "dedicated", "operator": "Exists"}
    c = constraints_of(
        {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "preference": {"matchExpressions": []}}
                    ],
                },
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []},
            },
            "tolerations": [toleration],
            "containers": [{"name": "c", "image": "x"}],
        }
    )
    assert c == Constraints({"kubernetes.io/os": "linux"}, (term,), (toleration,))


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"affinity": None},
        {"affinity": {}},
        {"affinity": {"nodeAffinity": {}}},
        {"affinity": {"podAffinity": {}}},
    ],
)
def test_constraints_of_without_constraints(spec: Body) -> None:
    assert constraints_of(spec) == Constraints({}, (), ())


# --- node_allows: node selector and required node affinity --------------------------------------


def expr(key: str, operator: str, *values: str) -> Body:
    req: Body = {"key": key, "operator": operator}
    if values:
        req["values"] = list(values)
    return req


def name_field(operator: str, *values: str) -> Body:
    return {"key": "metadata.name", "operator": operator, "values": list(values)}


def affinity(*terms: Body) -> Body:
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
            }
        }
    }


def term(*exprs: Body, fields: list[Body] | None = None) -> Body:
    out: Body = {}
    if exprs:
        out["matchExpressions"] = list(exprs)
    if fields is not None:
        out["matchFields"] = fields
    return out


SELECTION: list[tuple[str, Body, bool]] = [
    ("nothing asked", {}, True),
    ("selector matches", {"nodeSelector": {"disktype": "ssd"}}, True),
    (
        "selector, two labels",
        {"nodeSelector": {"disktype": "ssd", "topology.kubernetes.io/zone": "zone-1"}},
        True,
    ),
    (
        "selector, one label differs",
        {"nodeSelector": {"disktype": "ssd", "topology.kubernetes.io/zone": "zone-2"}},
        False,
    ),
    ("selector, other value", {"nodeSelector": {"disktype": "hdd"}}, False),
    ("selector, label missing", {"nodeSelector": {"gpu": "true"}}, False),
    ("selector, empty value of a missing label", {"nodeSelector": {"gpu": ""}}, False),
    ("selector, empty value present", {"nodeSelector": {"flag": ""}}, True),
    ("selector, hostname", {"nodeSelector": {HOSTNAME_LABEL: "node-a"}}, True),
    ("selector, other hostname", {"nodeSelector": {HOSTNAME_LABEL: "node-b"}}, False),
    ("In", affinity(term(expr("disktype", "In", "hdd", "ssd"))), True),
    ("In, other values", affinity(term(expr("disktype", "In", "hdd", "nvme"))), False),
    ("In, label missing", affinity(term(expr("gpu", "In", "true"))), False),
    ("In, no values", affinity(term(expr("disktype", "In"))), False),
    ("NotIn", affinity(term(expr("disktype", "NotIn", "hdd"))), True),
    ("NotIn, value listed", affinity(term(expr("disktype", "NotIn", "hdd", "ssd"))), False),
    ("NotIn, label missing", affinity(term(expr("gpu", "NotIn", "true"))), True),
    ("Exists", affinity(term(expr("disktype", "Exists"))), True),
    ("Exists, empty value", affinity(term(expr("flag", "Exists"))), True),
    ("Exists, label missing", affinity(term(expr("gpu", "Exists"))), False),
    ("DoesNotExist", affinity(term(expr("gpu", "DoesNotExist"))), True),
    ("DoesNotExist, label present", affinity(term(expr("disktype", "DoesNotExist"))), False),
    ("Gt", affinity(term(expr("cores", "Gt", "4"))), True),
    ("Gt, equal", affinity(term(expr("cores", "Gt", "8"))), False),
    ("Gt, larger bound", affinity(term(expr("cores", "Gt", "16"))), False),
    ("Gt, negative bound", affinity(term(expr("cores", "Gt", "-1"))), True),
    ("Lt", affinity(term(expr("cores", "Lt", "16"))), True),
    ("Lt, equal", affinity(term(expr("cores", "Lt", "8"))), False),
    ("Gt, label not an integer", affinity(term(expr("odd", "Gt", "1"))), False),
    ("Gt, bound not an integer", affinity(term(expr("cores", "Gt", "four"))), False),
    ("Gt, label missing", affinity(term(expr("gpus", "Gt", "0"))), False),
    ("Lt, label missing", affinity(term(expr("gpus", "Lt", "10"))), False),
    ("Gt, no values", affinity(term(expr("cores", "Gt"))), False),
    ("unknown operator", affinity(term(expr("disktype", "Matches", "ssd"))), False),
    (
        "expressions of a term are ANDed",
        affinity(term(expr("disktype", "In", "ssd"), expr("cores", "Gt", "4"), expr("gpu", "DoesNotExist"))),
        True,
    ),
    (
        "expressions of a term are ANDed, one fails",
        affinity(term(expr("disktype", "In", "ssd"), expr("cores", "Gt", "8"))),
        False,
    ),
    (
        "terms are ORed",
        affinity(term(expr("disktype", "In", "hdd")), term(expr("cores", "Lt", "16"))),
        True,
    ),
    (
        "terms are ORed, none matches",
        affinity(term(expr("disktype", "In", "hdd")), term(expr("cores", "Gt", "16"))),
        False,
    ),
    ("matchFields name In", affinity(term(fields=[name_field("In", "node-b", "node-a")])), True),
    ("matchFields name In, other node", affinity(term(fields=[name_field("In", "node-b")])), False),
    ("matchFields name NotIn", affinity(term(fields=[name_field("NotIn", "node-b")])), True),
    ("matchFields name NotIn, this node", affinity(term(fields=[name_field("NotIn", "node-a")])), False),
    (
        "matchFields and matchExpressions are ANDed",
        affinity(term(expr("disktype", "In", "hdd"), fields=[name_field("In", "node-a")])),
        False,
    ),
    (
        "matchFields and matchExpressions both match",
        affinity(term(expr("disktype", "In", "ssd"), fields=[name_field("In", "node-a")])),
        True,
    ),
    ("an empty term matches nothing", affinity({}), False),
    ("a term of empty lists matches nothing", affinity({"matchExpressions": [], "matchFields": []}), False),
    ("an empty term ORed with a matching one", affinity({}, term(expr("disktype", "Exists"))), True),
    ("no terms: no restriction", affinity(), True),
    (
        "selector and affinity must both hold",
        {"nodeSelector": {"disktype": "hdd"}, **affinity(term(expr("disktype", "Exists")))},
        False,
    ),
    (
        "selector and affinity both hold",
        {"nodeSelector": {"disktype": "ssd"}, **affinity(term(expr("cores", "Gt", "2")))},
        True,
    ),
    (
        "preferred affinity is not a filter",
        {
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "preference": term(expr("disktype", "In", "hdd"))}
                    ]
                }
            }
        },
        True,
    ),
]


@pytest.mark.parametrize(("spec", "allowed"), [c[1:] for c in SELECTION], ids=[c[0] for c in SELECTION])
def test_node_allows_selection(spec: Body, allowed: bool) -> None:
    assert node_allows(node(), constraints_of(spec)) is allowed


# --- node_allows: taints, tolerations and cordoned nodes ----------------------------------------

DEDICATED = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}
NO_EXECUTE = {"key": "maintenance", "value": "true", "effect": "NoExecute"}
PREFER = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
BARE = {"key": "gpu", "effect": "NoSchedule"}  # a taint without a value
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}

TAINTS: list[tuple[str, list[Body], list[Body], bool]] = [
    ("untainted", [], [], True),
    ("NoSchedule, no toleration", [DEDICATED], [], False),
    ("NoExecute, no toleration", [NO_EXECUTE], [], False),
    ("not-ready NoExecute, no toleration", [NOT_READY], [], False),
    ("PreferNoSchedule is not a filter", [PREFER], [], True),
    ("Exists with the key", [DEDICATED], [{"key": "dedicated", "operator": "Exists"}], True),
    ("Exists with another key", [DEDICATED], [{"key": "other", "operator": "Exists"}], False),
    (
        "Exists without a key tolerates everything",
        [DEDICATED, NO_EXECUTE, BARE],
        [{"operator": "Exists"}],
        True,
    ),
    (
        "Exists without a key, effect NoSchedule",
        [DEDICATED, BARE],
        [{"operator": "Exists", "effect": "NoSchedule"}],
        True,
    ),
    (
        "Exists without a key, effect NoSchedule, NoExecute taint",
        [NO_EXECUTE],
        [{"operator": "Exists", "effect": "NoSchedule"}],
        False,
    ),
    ("Equal with the value", [DEDICATED], [{"key": "dedicated", "operator": "Equal", "value": "ml"}], True),
    (
        "Equal with another value",
        [DEDICATED],
        [{"key": "dedicated", "operator": "Equal", "value": "web"}],
        False,
    ),
    ("Equal without a value, taint has one", [DEDICATED], [{"key": "dedicated", "operator": "Equal"}], False),
    ("operator defaults to Equal", [DEDICATED], [{"key": "dedicated", "value": "ml"}], True),
    ("Equal, valueless taint", [BARE], [{"key": "gpu", "operator": "Equal"}], True),
    ("Equal, valueless taint, empty value", [BARE], [{"key": "gpu", "operator": "Equal", "value": ""}], True),
    ("Equal, valueless taint, a value", [BARE], [{"key": "gpu", "operator": "Equal", "value": "x"}], False),
    (
        "effect matches",
        [DEDICATED],
        [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        True,
    ),
    (
        "effect differs",
        [DEDICATED],
        [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}],
        False,
    ),
    (
        "Exists, effect differs",
        [DEDICATED],
        [{"key": "dedicated", "operator": "Exists", "effect": "PreferNoSchedule"}],
        False,
    ),
    (
        "NoExecute with tolerationSeconds",
        [NO_EXECUTE],
        [{"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        True,
    ),
    (
        "two taints, one tolerated",
        [DEDICATED, NO_EXECUTE],
        [{"key": "dedicated", "operator": "Exists"}],
        False,
    ),
    (
        "two taints, both tolerated",
        [DEDICATED, NO_EXECUTE],
        [{"key": "dedicated", "operator": "Exists"}, {"key": "maintenance", "operator": "Exists"}],
        True,
    ),
    (
        "tolerated and preferred taints",
        [DEDICATED, PREFER],
        [{"key": "dedicated", "operator": "Exists"}],
        True,
    ),
]


@pytest.mark.parametrize(
    ("taints", "tolerations", "allowed"), [c[1:] for c in TAINTS], ids=[c[0] for c in TAINTS]
)
def test_node_allows_taints(taints: list[Body], tolerations: list[Body], allowed: bool) -> None:
    assert node_allows(node(taints=taints), constraints_of({"tolerations": tolerations})) is allowed


UNSCHEDULABLE_KEY = "node.kubernetes.io/unschedulable"

CORDONED: list[tuple[str, bool, list[Body], bool]] = [
    ("schedulable", False, [], True),
    ("cordoned, no toleration", True, [], False),
    ("cordoned, tolerated by key", True, [{"key": UNSCHEDULABLE_KEY, "operator": "Exists"}], True),
    (
        "cordoned, tolerated by key and effect",
        True,
        [{"key": UNSCHEDULABLE_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        True,
    ),
    ("cordoned, Equal without value", True, [{"key": UNSCHEDULABLE_KEY, "operator": "Equal"}], True),
    ("cordoned, tolerate everything", True, [{"operator": "Exists"}], True),
    (
        "cordoned, only NoExecute tolerated",
        True,
        [{"key": UNSCHEDULABLE_KEY, "operator": "Exists", "effect": "NoExecute"}],
        False,
    ),
    ("cordoned, another key tolerated", True, [{"key": "dedicated", "operator": "Exists"}], False),
]


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "allowed"), [c[1:] for c in CORDONED], ids=[c[0] for c in CORDONED]
)
def test_node_allows_cordoned(unschedulable: bool, tolerations: list[Body], allowed: bool) -> None:
    info = node(unschedulable=unschedulable)
    assert node_allows(info, constraints_of({"tolerations": tolerations})) is allowed


def test_node_allows_needs_every_filter() -> None:
    info = node(taints=[DEDICATED])
    tolerate = [{"key": "dedicated", "operator": "Exists"}]
    assert node_allows(info, constraints_of({"tolerations": tolerate, "nodeSelector": {"disktype": "ssd"}}))
    assert not node_allows(
        info, constraints_of({"tolerations": tolerate, "nodeSelector": {"disktype": "hdd"}})
    )
    assert not node_allows(info, constraints_of({"nodeSelector": {"disktype": "ssd"}}))


# --- fits, subtract, free_capacity ---------------------------------------------------------------


def res(**quantities: str) -> dict[str, Decimal]:
    return {k.replace("_", "-"): parse_quantity(v) for k, v in quantities.items()}


FITS: list[tuple[str, dict[str, Decimal], dict[str, Decimal], bool]] = [
    ("nothing asked", res(cpu="1"), {}, True),
    ("room to spare", res(cpu="4", memory="8Gi", pods="10"), res(cpu="1", memory="1Gi", pods="1"), True),
    ("exactly full", res(cpu="1", memory="1Gi", pods="1"), res(cpu="1", memory="1Gi", pods="1"), True),
    ("one milli too much", res(cpu="1"), res(cpu="1001m"), False),
    ("one byte too much", res(memory="1Gi"), res(memory="1073741825"), False),
    ("cpu fits, memory does not", res(cpu="4", memory="1Gi"), res(cpu="1", memory="2Gi"), False),
    ("no pod slot left", res(cpu="4", pods="0"), res(cpu="1", pods="1"), False),
    (
        "resource the node lacks",
        res(cpu="4", pods="10"),
        {"cpu": Decimal(1), "nvidia.com/gpu": Decimal(1)},
        False,
    ),
    (
        "zero of a resource the node lacks",
        res(cpu="4"),
        {"cpu": Decimal(1), "nvidia.com/gpu": Decimal(0)},
        True,
    ),
    ("zero request on an overcommitted node", res(cpu="-1", memory="1Gi"), res(cpu="0", memory="1Mi"), True),
    ("overcommitted resource", res(cpu="-1", memory="1Gi"), res(cpu="1m"), False),
    ("extended resource", {"nvidia.com/gpu": Decimal(2)}, {"nvidia.com/gpu": Decimal(2)}, True),
]


@pytest.mark.parametrize(("free", "requests", "expected"), [c[1:] for c in FITS], ids=[c[0] for c in FITS])
def test_fits(free: dict[str, Decimal], requests: dict[str, Decimal], expected: bool) -> None:
    assert fits(free, requests) is expected


def test_subtract() -> None:
    free = res(cpu="4", memory="8Gi", pods="110")
    subtract(free, res(cpu="1500m", memory="1Gi", pods="1", ephemeral_storage="1Gi"))
    assert free == {
        "cpu": Decimal("2.5"),
        "memory": Decimal(7 * GI),
        "pods": Decimal(109),
        "ephemeral-storage": Decimal(-GI),  # a resource the node lacks goes negative: it never fits
    }
    assert not fits(free, res(ephemeral_storage="1"))


def test_subtract_then_fits_agree() -> None:
    free = res(cpu="2", pods="3")
    member = res(cpu="700m", pods="1")
    placed = 0
    while fits(free, member):
        subtract(free, member)
        placed += 1
    assert placed == 2
    assert free == res(cpu="600m", pods="1")


def test_free_capacity() -> None:
    a = observe_node(
        {"metadata": {"name": "a"}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}}}
    )
    b = observe_node({"metadata": {"name": "b"}, "status": {"allocatable": {"cpu": "2", "pods": "10"}}})
    used = {
        "a": res(cpu="1500m", memory="1Gi", pods="2"),
        "b": res(cpu="3", pods="1"),  # overcommitted: free goes negative
        "gone": res(cpu="1"),  # a node that is not observed: ignored
    }
    free = free_capacity([a, b], used)
    assert free == {
        "a": res(cpu="2500m", memory="7Gi", pods="8"),
        "b": {"cpu": Decimal(-1), "pods": Decimal(9)},
    }
    assert a.allocatable == res(cpu="4", memory="8Gi", pods="10")  # the node is not changed
    assert free_capacity([a], {}) == {"a": a.allocatable}
    assert free_capacity([a], {})["a"] is not a.allocatable
    assert free_capacity([], used) == {}
