"""Decisions the handlers used to make themselves, now in core: the node room a member can grow
into, the gang record carried forward, when to look at a release again, why a group restarts,
whether a gang backs off and since when it waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from podgroup_operator.api.models import ActionUse, FailureRecord, GangStatus, PodGroupSpec, PodGroupStatus
from podgroup_operator.core.gang_state import (
    backing_off,
    carried_gang_record,
    next_timeout_check,
    waiting_since,
)
from podgroup_operator.core.labels import ADMITTED_AT_ANNOTATION, RESTART_GENERATION_ANNOTATION
from podgroup_operator.core.placement import NodeInfo, member_room, room_on_node
from podgroup_operator.core.status import restart_in_progress
from tests.builders import PodBuilder

D = Decimal
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SPEC = PodGroupSpec.model_validate(
    {"roles": [{"name": "w", "replicas": 2, "template": {"spec": {"containers": [{"name": "main"}]}}}],
     "gang": {"scheduleTimeoutSeconds": 60}}
)  # fmt: skip


def member(index: int) -> PodBuilder:
    return PodBuilder(f"g-w-{index}").member("g", "w", index).owner("uid-g")


def test_room_on_node_gives_back_the_pods_own_requests() -> None:
    room = room_on_node(
        {"cpu": D(8), "memory": D(100)}, [{"cpu": D(2)}, {"cpu": D(3), "memory": D(10)}], {"cpu": D(2)}
    )
    assert room == {"cpu": D(5), "memory": D(90)}


def test_member_room_reads_the_members_node_from_the_indexes() -> None:
    node = NodeInfo(name="n1", labels={}, taints=(), allocatable={"cpu": D(8)}, unschedulable=False)
    nodes, on_n1 = {"n1": [node]}, {"n1": [{"cpu": D(2)}, {"cpu": D(3)}]}
    assert member_room("n1", {"cpu": D(2)}, nodes, on_n1) == {"cpu": D(5)}
    assert member_room(None, {"cpu": D(2)}, nodes, on_n1) is None  # not scheduled
    assert member_room("gone", {"cpu": D(2)}, nodes, on_n1) is None  # its node left the index


def test_released_unbound_members_are_looked_at_just_after_their_timeout() -> None:
    released = member(0).annotation(ADMITTED_AT_ANNOTATION, T0.isoformat()).observed()
    assert next_timeout_check(SPEC, [released], T0 + timedelta(seconds=20)) == 40.1
    assert next_timeout_check(SPEC, [released], T0 + timedelta(seconds=90)) == 0.1
    assert next_timeout_check(SPEC, [member(1).gang_gated().observed()], T0) is None


def test_the_gang_record_takes_the_first_release_time() -> None:
    pods = [
        member(i).annotation(ADMITTED_AT_ANNOTATION, (T0 + timedelta(seconds=i)).isoformat()).observed()
        for i in (1, 0)
    ]
    record = carried_gang_record(GangStatus(rollbacks=1), pods)
    assert record is not None and (record.admitted_time, record.rollbacks) == (T0, 1)
    assert carried_gang_record(None, [member(0).gang_gated().observed()]) is None


def test_a_group_restarts_until_its_members_reach_the_generation_and_are_ready() -> None:
    failure = FailureRecord(
        pod="g-w-0", reason="Error", action="RestartGroupInPlace", time=T0, key="uid-g-w-0/c/main/1"
    )
    status = PodGroupStatus(
        restart_generation=1, last_failure=failure, actions=[ActionUse(action="RestartGroupInPlace", time=T0)]
    )
    behind = member(0).phase("Running").ready().observed()
    caught_up = member(0).phase("Running").ready().annotation(RESTART_GENERATION_ANNOTATION, "1").observed()
    assert restart_in_progress(status, [behind]) == "restarting in place to generation 1: 1 members to go"
    assert restart_in_progress(status, [caught_up]) is None
    assert restart_in_progress(None, [behind]) is None


def test_a_rolled_back_gang_backs_off_then_waits_since_its_rollback() -> None:
    record = GangStatus(rollbacks=1, last_rollback_time=T0, next_attempt_time=T0 + timedelta(seconds=10))
    assert backing_off(record, T0 + timedelta(seconds=4)) == 6.0
    assert backing_off(record, T0 + timedelta(seconds=10)) is None
    assert backing_off(None, T0) is None
    created = T0 - timedelta(hours=1)
    assert waiting_since(created, record) == T0
    assert waiting_since(created, None) == created
