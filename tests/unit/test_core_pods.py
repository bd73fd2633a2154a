"""core.pods: the manifest of one member pod, built from its role's template."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podgroup_operator.core.labels import (
    GANG_GATE,
    GROUP_LABEL,
    INDEX_LABEL,
    ROLE_LABEL,
    TEMPLATE_HASH_ANNOTATION,
)
from podgroup_operator.core.members import Member
from podgroup_operator.core.pods import member_pod, template_hash

GROUP = "train"
UID = "uid-train"
MEMBER = Member("worker", 3, "train-worker-3")

TEMPLATE: dict[str, Any] = {
    "metadata": {
        "labels": {"app": "train", "tier": "gpu"},
        "annotations": {"team": "ml", "prometheus.io/scrape": "true"},
    },
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {"name": "trainer", "image": "busybox:1.36", "resources": {"requests": {"cpu": "1"}}},
        ],
    },
}


def build(template: dict[str, Any] = TEMPLATE, gates: tuple[str, ...] = ()) -> dict[str, Any]:
    return member_pod(group=GROUP, group_uid=UID, member=MEMBER, template=template, gates=gates)


def test_pod_identity() -> None:
    pod = build()
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == "train-worker-3"


def test_labels_merge_template_labels_with_member_labels() -> None:
    assert build()["metadata"]["labels"] == {
        "app": "train",
        "tier": "gpu",
        GROUP_LABEL: "train",
        ROLE_LABEL: "worker",
        INDEX_LABEL: "3",
    }


def test_member_labels_win_over_template_labels() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"].update({GROUP_LABEL: "other", ROLE_LABEL: "x", INDEX_LABEL: "99"})
    labels = build(template)["metadata"]["labels"]
    assert (labels[GROUP_LABEL], labels[ROLE_LABEL], labels[INDEX_LABEL]) == ("train", "worker", "3")


def test_annotations_keep_template_annotations_and_add_template_hash() -> None:
    assert build()["metadata"]["annotations"] == {
        "team": "ml",
        "prometheus.io/scrape": "true",
        TEMPLATE_HASH_ANNOTATION: template_hash(TEMPLATE),
    }


def test_template_hash_annotation_cannot_be_forged_by_the_template() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] = "forged"
    assert build(template)["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] == template_hash(template)


def test_owner_reference_makes_the_group_the_controller() -> None:
    assert build()["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "podgroup.dev/v1alpha1",
            "kind": "PodGroup",
            "name": "train",
            "uid": "uid-train",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_spec_is_the_template_spec() -> None:
    assert build()["spec"] == TEMPLATE["spec"]


def test_minimal_template() -> None:
    pod = build({"spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert pod["metadata"]["labels"] == {GROUP_LABEL: "train", ROLE_LABEL: "worker", INDEX_LABEL: "3"}
    assert set(pod["metadata"]["annotations"]) == {TEMPLATE_HASH_ANNOTATION}
    assert pod["spec"] == {"containers": [{"name": "c", "image": "i"}]}


def test_empty_template() -> None:
    pod = build({})
    assert pod["spec"] == {}
    assert pod["metadata"]["name"] == "train-worker-3"


def _gates(*names: str) -> list[dict[str, str]]:
    return [{"name": n} for n in names]


# (gates already in the template, gates asked for, schedulingGates of the pod or None when absent)
GATE_CASES = [
    pytest.param(None, (), None, id="none-asked-none-present"),
    pytest.param(None, (GANG_GATE,), _gates(GANG_GATE), id="gang-gate-added"),
    pytest.param(_gates("example.com/quota"), (), _gates("example.com/quota"), id="template-gates-kept"),
    pytest.param(
        _gates("example.com/quota"),
        (GANG_GATE,),
        _gates("example.com/quota", GANG_GATE),
        id="added-after-template-gates",
    ),
    pytest.param(_gates(GANG_GATE), (GANG_GATE,), _gates(GANG_GATE), id="no-duplicate-of-template-gate"),
    pytest.param(
        _gates(GANG_GATE, "example.com/quota"),
        (GANG_GATE,),
        _gates("example.com/quota", GANG_GATE),
        id="no-duplicate-when-template-gate-first",
    ),
    pytest.param(
        None,
        (GANG_GATE, "example.com/quota"),
        _gates(GANG_GATE, "example.com/quota"),
        id="several-gates-in-order",
    ),
]


@pytest.mark.parametrize(("template_gates", "gates", "expected"), GATE_CASES)
def test_scheduling_gates(
    template_gates: list[dict[str, str]] | None,
    gates: tuple[str, ...],
    expected: list[dict[str, str]] | None,
) -> None:
    template = copy.deepcopy(TEMPLATE)
    if template_gates is not None:
        template["spec"]["schedulingGates"] = template_gates
    spec = build(template, gates)["spec"]
    assert spec.get("schedulingGates") == expected
    names = [g["name"] for g in spec.get("schedulingGates") or []]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("gates", [(), (GANG_GATE,)], ids=["no-gates", "gang-gate"])
def test_template_is_not_mutated(gates: tuple[str, ...]) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["schedulingGates"] = _gates("example.com/quota")
    before = copy.deepcopy(template)
    pod = build(template, gates)
    assert template == before
    # Nor does the pod share mutable structure with the template.
    pod["spec"]["containers"][0]["image"] = "changed"
    pod["spec"].setdefault("schedulingGates", []).append({"name": "changed"})
    pod["metadata"]["labels"]["changed"] = "yes"
    pod["metadata"]["annotations"]["changed"] = "yes"
    assert template == before


def test_members_of_one_role_carry_the_same_template_hash() -> None:
    a = member_pod(
        group=GROUP, group_uid=UID, member=Member("worker", 0, "train-worker-0"), template=TEMPLATE
    )
    b = member_pod(
        group=GROUP, group_uid=UID, member=Member("worker", 1, "train-worker-1"), template=TEMPLATE
    )
    assert a["metadata"]["annotations"] == b["metadata"]["annotations"]


def test_gates_do_not_change_the_template_hash() -> None:
    assert (
        build(gates=(GANG_GATE,))["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
        == build()["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION]
    )


def _reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse insertion order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_template_hash_is_stable_under_key_order() -> None:
    reordered = _reordered(TEMPLATE)
    assert list(reordered) != list(TEMPLATE)
    assert template_hash(reordered) == template_hash(TEMPLATE)


def test_template_hash_is_short_hex() -> None:
    h = template_hash(TEMPLATE)
    assert len(h) == 16
    int(h, 16)


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    template = copy.deepcopy(TEMPLATE)
    node: Any = template
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return template


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(_with(("spec", "containers", 0, "image"), "busybox:1.37"), id="image"),
        pytest.param(_with(("metadata", "labels", "app"), "serve"), id="label"),
        pytest.param(_with(("metadata", "annotations", "team"), "infra"), id="annotation"),
        pytest.param(_with(("spec", "restartPolicy"), "OnFailure"), id="restart-policy"),
    ],
)
def test_template_hash_changes_with_content(changed: dict[str, Any]) -> None:
    assert template_hash(changed) != template_hash(TEMPLATE)
