"""The PodGroup pydantic models: wire format round trip and the rules they share with the CRD."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from podgroup_operator.api.models import (
    Condition,
    ConditionStatus,
    Gang,
    Phase,
    PodGroup,
    PodGroupSpec,
    PodGroupStatus,
    Role,
    RoleStatus,
)

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "train"}},
    "spec": {
        "containers": [{"name": "trainer", "image": "busybox:1.36", "resources": {"requests": {"cpu": "1"}}}]
    },
}

BODY: dict[str, Any] = {
    "apiVersion": "podgroup.dev/v1alpha1",
    "kind": "PodGroup",
    "metadata": {"name": "train", "namespace": "ml", "generation": 3},
    "spec": {
        "roles": [
            {"name": "leader", "replicas": 1, "template": TEMPLATE},
            {"name": "worker", "replicas": 4, "minAvailable": 3, "template": TEMPLATE},
        ],
        "gang": {"scheduleTimeoutSeconds": 300},
        "resize": {
            "mode": "Off",
            "containers": [],
            "targetPercentile": 90,
            "safetyMarginPercent": 15,
            "minChangePercent": 10,
            "cooldownSeconds": 60,
            "uniform": True,
            "oomBumpPercent": 20,
            "historyHalfLifeSeconds": 3600,
        },
        "failurePolicy": {
            "maxRestarts": 5,
            "backoff": {"initialSeconds": 10, "maxSeconds": 300},
            "escalation": {"after": 3, "windowSeconds": 600},
            "defaultAction": "RestartContainer",
            "rules": [
                {
                    "action": "RestartGroupInPlace",
                    "onExitCodes": {"containerName": "main", "operator": "In", "values": [134]},
                },
                {"action": "FailGroup", "onReasons": ["OOMKilled"]},
                {
                    "action": "RecreatePod",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ],
        },
        "network": {"headlessService": True, "leaderRole": "leader"},
    },
    "status": {
        "phase": "Running",
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllMembersReady",
                "message": "4/4 members ready",
                "lastTransitionTime": "2025-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
        "roles": [
            {
                "name": "leader",
                "replicas": 1,
                "scheduled": 1,
                "running": 1,
                "ready": 1,
                "succeeded": 0,
                "failed": 0,
            },
            {
                "name": "worker",
                "replicas": 4,
                "scheduled": 4,
                "running": 4,
                "ready": 3,
                "succeeded": 0,
                "failed": 0,
            },
        ],
        "readyMembers": "4/5",
        "restarts": 2,
    },
}


def test_full_body_round_trips() -> None:
    group = PodGroup.model_validate(BODY)
    assert group.to_dict() == BODY
    assert group.spec.roles[1].min_available == 3
    assert group.spec.gang.schedule_timeout_seconds == 300
    assert group.status is not None
    assert group.status.phase is Phase.RUNNING
    assert group.status.conditions is not None
    assert group.status.conditions[0].status is ConditionStatus.TRUE
    assert group.status.conditions[0].last_transition_time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_spec_and_status_parse_on_their_own() -> None:
    # Kopf hands handlers `spec` and `status` separately.
    spec = PodGroupSpec.model_validate(BODY["spec"])
    status = PodGroupStatus.model_validate(BODY["status"])
    assert spec.to_dict() == BODY["spec"]
    assert status.to_dict() == BODY["status"]


def test_defaults_match_the_crd_defaults() -> None:
    spec = PodGroupSpec.model_validate({"roles": [{"name": "w", "template": {}}]})
    assert spec.roles[0].replicas == 1
    assert spec.roles[0].min_available is None
    assert spec.roles[0].effective_min_available == 1
    assert spec.gang == Gang(schedule_timeout_seconds=120)
    # Members find each other by default; the leader is member 0 of the first role.
    assert spec.network.headless_service is True
    assert spec.leader_role == "w"
    # minAvailable stays absent on the wire: its default is "= replicas", not a number.
    assert "minAvailable" not in spec.to_dict()["roles"][0]


def test_snake_case_names_are_accepted_in_python() -> None:
    role = Role(name="w", replicas=2, min_available=1, template={})
    assert role.to_dict() == {"name": "w", "replicas": 2, "minAvailable": 1, "template": {}}


def test_empty_status_dumps_to_empty_dict() -> None:
    assert PodGroupStatus().to_dict() == {}


def test_status_built_in_python_has_the_wire_form() -> None:
    status = PodGroupStatus(
        phase=Phase.SCHEDULING,
        conditions=[
            Condition(
                type="GangAdmitted",
                status=ConditionStatus.FALSE,
                reason="WaitingForCapacity",
                # Naive and sub-second times are normalised to UTC seconds, as Kubernetes stores them.
                last_transition_time=datetime(2025, 1, 1, 12, 0, 0, 999_999),
            )
        ],
        roles=[RoleStatus(name="worker", replicas=2)],
    )
    assert status.to_dict() == {
        "phase": "Scheduling",
        "conditions": [
            {
                "type": "GangAdmitted",
                "status": "False",
                "reason": "WaitingForCapacity",
                "message": "",
                "lastTransitionTime": "2025-01-01T12:00:00Z",
            }
        ],
        "roles": [
            {
                "name": "worker",
                "replicas": 2,
                "scheduled": 0,
                "running": 0,
                "ready": 0,
                "succeeded": 0,
                "failed": 0,
            }
        ],
    }


def test_timestamps_with_offsets_become_utc() -> None:
    local = datetime(2025, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    condition = Condition(type="Ready", status=ConditionStatus.TRUE, reason="R", last_transition_time=local)
    assert condition.to_dict()["lastTransitionTime"] == "2025-01-01T12:00:00Z"


def test_unknown_fields_are_ignored() -> None:
    # A newer CRD may carry fields this operator version does not know; reading must not fail.
    spec = PodGroupSpec.model_validate({"roles": [{"name": "w", "template": {}}], "futureField": 1})
    assert "futureField" not in spec.to_dict()


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["spec", "roles"], [], "at least 1 item"),
        (["spec", "roles"], [{"name": f"r{i}", "template": {}} for i in range(17)], "at most 16 items"),
        (["spec", "roles", 0, "name"], "Leader", "should match pattern"),
        (["spec", "roles", 0, "name"], "-leader", "should match pattern"),
        (["spec", "roles", 0, "name"], "a" * 21, "at most 20 characters"),
        (["spec", "roles", 0, "replicas"], 0, "greater than or equal to 1"),
        (["spec", "roles", 0, "replicas"], 1001, "less than or equal to 1000"),
        (["spec", "roles", 1, "minAvailable"], -1, "greater than or equal to 0"),
        (["spec", "roles", 1, "minAvailable"], 5, "minAvailable must not exceed replicas"),
        (["spec", "roles", 0, "template"], "x", "valid dictionary"),
        (["spec", "gang", "scheduleTimeoutSeconds"], 0, "greater than or equal to 1"),
        (["spec", "gang", "scheduleTimeoutSeconds"], 86401, "less than or equal to 86400"),
        (["spec", "gang", "topology"], {"levels": []}, "at least 1 item"),
        (["spec", "gang", "topology"], {"levels": ["a", "a"], "level": "a"}, "must not name a label twice"),
        (["spec", "gang", "topology"], {"levels": ["rack id"], "level": "rack id"}, "should match pattern"),
        (
            ["spec", "gang", "topology"],
            {"levels": ["a", "b"], "level": "c"},
            "must be one of topology.levels",
        ),
        (["spec", "gang", "topology"], {"levels": ["a"]}, "level is required when topology.mode is Required"),
        (["spec", "gang", "topology"], {"levels": ["a"], "mode": "Sometimes"}, "Input should be"),
        (["spec", "roles", 0, "topology"], {"levels": ["a", "a"], "mode": "Preferred"}, "twice"),
        (["metadata", "name"], "a" * 41, "at most 40 characters"),
        (["metadata", "name"], "train.v2", "must be a DNS label"),
        (["metadata", "name"], "2train", "must start with a letter"),
        (["spec", "network", "leaderRole"], "chief", "must name one of spec.roles"),
        (["status", "phase"], "Exploded", "Input should be"),
        (["status", "conditions", 0, "status"], "Yes", "Input should be"),
        (["status", "conditions", 0, "reason"], "not a reason", "should match pattern"),
        (["status", "conditions", 0, "lastTransitionTime"], "yesterday", "datetime"),
        (["status", "restarts"], -1, "greater than or equal to 0"),
    ],
)
def test_invalid_values_are_rejected(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PodGroup.model_validate(_with(path, value))


LONG_ROLE = [{"name": "w" * 20, "replicas": 1000, "template": {"spec": {"hostname": "w"}}}]


# (group name, spec.network, spec.roles or None for BODY's) accepted
@pytest.mark.parametrize(
    ("name", "network", "roles"),
    [
        # no Service of its own: the name need not start with a letter
        ("2train", {"headlessService": False}, None),
        # the template names its hostname: the long member names are not hostnames
        ("t" * 40, {}, LONG_ROLE),
        ("train", {"leaderRole": "worker"}, None),
    ],
)
def test_network_cases_that_are_accepted(name: str, network: dict[str, Any], roles: Any) -> None:
    body = _with(["spec", "network"], network)
    body["metadata"]["name"] = name
    if roles is not None:
        body["spec"]["roles"] = roles
    PodGroup.model_validate(body)


def test_member_hostnames_longer_than_a_dns_label_are_rejected() -> None:
    body = _with(["spec", "roles"], [{"name": "w" * 20, "replicas": 1000, "template": {}}])
    body["spec"]["network"] = {}
    body["metadata"]["name"] = "t" * 40  # t...t-w...w-999: 65 characters
    with pytest.raises(ValidationError, match="must be at most 63 characters"):
        PodGroup.model_validate(body)
    body["spec"]["roles"][0]["replicas"] = 10  # t...t-w...w-9: 63
    PodGroup.model_validate(body)


@pytest.mark.parametrize(
    "policy",
    [
        {
            "levels": ["topology.kubernetes.io/zone", "example.com/rack", "kubernetes.io/hostname"],
            "level": "example.com/rack",
        },
        {"levels": ["zone"], "mode": "Preferred"},
        {"levels": ["zone", "block"], "mode": "Preferred", "level": "block"},
    ],
)
def test_valid_topologies_are_accepted(policy: dict[str, Any]) -> None:
    PodGroup.model_validate(_with(["spec", "gang", "topology"], policy))
    PodGroup.model_validate(_with(["spec", "roles", 0, "topology"], policy))


def test_role_without_template_is_rejected() -> None:
    with pytest.raises(ValidationError, match="template"):
        Role.model_validate({"name": "w"})
