"""core.members: which member pods a PodGroup wants, and what to create or delete to get there."""

from __future__ import annotations

from typing import Any

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.members import Member, desired_members, plan_members
from podgroup_operator.core.observed import ObservedPod
from tests.builders import PodBuilder

GROUP = "train"
UID = "uid-train"
TEMPLATE: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}


def spec(**replicas: int) -> PodGroupSpec:
    """A spec with one role per keyword, in keyword order: spec(leader=1, worker=2)."""
    return PodGroupSpec.model_validate(
        {"roles": [{"name": name, "replicas": n, "template": TEMPLATE} for name, n in replicas.items()]}
    )


def pod(
    role: str,
    index: int | None,
    *,
    owner: str | None = UID,
    deleting: bool = False,
    name: str | None = None,
) -> ObservedPod:
    return (
        PodBuilder(name or f"{GROUP}-{role}-{index}")
        .uid(f"pod-uid-{role}-{index}")
        .member(GROUP, role, index)
        .owner(owner)
        .phase("Running")
        .node("node-1")
        .ready()
        .deleting(deleting)
        .observed()
    )


def pods(role: str, *indexes: int, **kwargs: Any) -> list[ObservedPod]:
    return [pod(role, i, **kwargs) for i in indexes]


def test_desired_members_in_role_then_index_order() -> None:
    assert desired_members(GROUP, spec(leader=1, worker=3)) == [
        Member("leader", 0, "train-leader-0"),
        Member("worker", 0, "train-worker-0"),
        Member("worker", 1, "train-worker-1"),
        Member("worker", 2, "train-worker-2"),
    ]


def test_desired_member_names_are_unique_across_roles() -> None:
    members = desired_members(GROUP, spec(w=12, **{"w-1": 2}))
    names = [m.name for m in members]
    assert len(names) == len(set(names)) == 14


# (roles -> replicas, observed pods, names to create, names to delete in order)
PLAN_CASES = [
    pytest.param(
        {"leader": 1, "worker": 2},
        [],
        ["train-leader-0", "train-worker-0", "train-worker-1"],
        [],
        id="fresh-group-creates-everything",
    ),
    pytest.param(
        {"leader": 1, "worker": 2},
        [*pods("leader", 0), *pods("worker", 0, 1)],
        [],
        [],
        id="complete-group-does-nothing",
    ),
    pytest.param(
        {"leader": 1, "worker": 3},
        [*pods("worker", 0, 2)],
        ["train-leader-0", "train-worker-1"],
        [],
        id="creates-only-the-missing",
    ),
    pytest.param(
        {"worker": 4},
        pods("worker", 0, 1),
        ["train-worker-2", "train-worker-3"],
        [],
        id="scale-up",
    ),
    pytest.param(
        {"worker": 1},
        pods("worker", 0, 1, 2, 3),
        [],
        ["train-worker-3", "train-worker-2", "train-worker-1"],
        id="scale-down-highest-index-first",
    ),
    pytest.param(
        {"worker": 2},
        pods("worker", *range(12)),
        [],
        [f"train-worker-{i}" for i in range(11, 1, -1)],
        id="scale-down-orders-indexes-numerically",
    ),
    pytest.param(
        {"a": 1, "b": 1},
        [*pods("b", 0, 1, 2), *pods("a", 0, 1, 2)],
        [],
        ["train-a-2", "train-a-1", "train-b-2", "train-b-1"],
        id="scale-down-two-roles-highest-first-per-role",
    ),
    pytest.param(
        {"worker": 2},
        [*pods("leader", 0), *pods("worker", 0, 1)],
        [],
        ["train-leader-0"],
        id="role-removed",
    ),
    pytest.param(
        {"learner": 2},
        pods("worker", 0, 1),
        ["train-learner-0", "train-learner-1"],
        ["train-worker-1", "train-worker-0"],
        id="role-renamed",
    ),
    pytest.param(
        {"worker": 2},
        [*pods("worker", 0), pod("worker", 1, deleting=True)],
        [],
        [],
        id="terminating-desired-pod-keeps-its-name-taken",
    ),
    pytest.param(
        {"worker": 1},
        [*pods("worker", 0), pod("worker", 1, deleting=True), *pods("worker", 2)],
        [],
        ["train-worker-2"],
        id="terminating-surplus-pod-not-deleted-again",
    ),
    pytest.param(
        {"worker": 1},
        [*pods("worker", 0), pod("worker", 1, owner="uid-other-group"), pod("worker", 2, owner=None)],
        [],
        [],
        id="surplus-pods-of-another-owner-or-none-never-deleted",
    ),
    pytest.param(
        {"worker": 2},
        [pod("worker", 0, owner="uid-other-group"), pod("worker", 1, owner=None)],
        [],
        [],
        id="desired-name-held-by-foreign-pod-neither-created-nor-deleted",
    ),
    pytest.param(
        {"worker": 1},
        [*pods("worker", 0), pod("worker", None, name="train-worker-x"), *pods("worker", 3)],
        [],
        ["train-worker-3", "train-worker-x"],
        id="surplus-with-malformed-index-deleted-last-in-role",
    ),
    pytest.param(
        {"worker": 1},
        [*pods("worker", 0, 1), pod("worker", 2, owner="uid-old-incarnation")],
        [],
        ["train-worker-1"],
        id="recreated-group-with-same-name-leaves-old-incarnation-alone",
    ),
]


@pytest.mark.parametrize(("replicas", "observed", "create", "delete"), PLAN_CASES)
def test_plan_members(
    replicas: dict[str, int], observed: list[ObservedPod], create: list[str], delete: list[str]
) -> None:
    plan = plan_members(GROUP, UID, spec(**replicas), observed)
    assert [m.name for m in plan.create] == create
    assert list(plan.delete) == delete


def test_plan_creates_members_with_role_and_index() -> None:
    plan = plan_members(GROUP, UID, spec(leader=1, worker=2), pods("worker", 0))
    assert plan.create == (Member("leader", 0, "train-leader-0"), Member("worker", 1, "train-worker-1"))


def test_plan_accepts_a_one_shot_iterable() -> None:
    observed = iter([*pods("worker", 0, 1, 2)])
    plan = plan_members(GROUP, UID, spec(worker=2), observed)
    assert plan.create == ()
    assert plan.delete == ("train-worker-2",)


def test_plan_never_deletes_a_desired_pod() -> None:
    observed = [*pods("leader", 0), *pods("worker", 0, 1, 2, 3)]
    plan = plan_members(GROUP, UID, spec(leader=1, worker=2), observed)
    wanted = {m.name for m in desired_members(GROUP, spec(leader=1, worker=2))}
    assert not wanted & set(plan.delete)
