"""Bad input is refused by the API server itself (schema + CEL), with a message naming the field;
what passes the schema but fails later (a quota, a namespace going away) ends as conditions and
events on the PodGroup, without a crash and without affecting other groups.

Each row: what is wrong, a spec (or a whole-object change), and words the API server's message
must contain. Checked with `kubectl apply --dry-run=server`, as a user would meet them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually, kubectl
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import OperatorProcess


def with_container(**fields: Any) -> dict[str, Any]:
    r = role("w", 1)
    r["template"]["spec"]["containers"][0].update(fields)
    return r


def rule(**fields: Any) -> dict[str, Any]:
    return {"roles": [role("w", 1)], "failurePolicy": {"rules": [fields]}}


def topology(**fields: Any) -> dict[str, Any]:
    return {"roles": [role("w", 1)], "gang": {"topology": fields}}


def policy(**fields: Any) -> dict[str, Any]:
    return {"roles": [role("w", 1)], "failurePolicy": fields}


INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    # roles
    ("no roles", {"roles": []}, ["spec.roles", "at least 1"]),
    ("roles missing", {}, ["spec.roles", "Required value"]),
    ("duplicate role names", {"roles": [role("w", 1), role("w", 2)]}, ["spec.roles[1]", "Duplicate value"]),
    (
        "too many roles",
        {"roles": [role(f"r{i}", 1) for i in range(17)]},
        ["spec.roles", "must have at most 16"],
    ),
    ("role name not a DNS label", {"roles": [role("Worker_1", 1)]}, ["spec.roles[0].name"]),
    ("role name too long", {"roles": [role("w" * 21, 1)]}, ["spec.roles[0].name", "may not be more than 20"]),
    ("zero replicas", {"roles": [role("w", 0)]}, ["spec.roles[0].replicas", "greater than or equal to 1"]),
    (
        "too many replicas",
        {"roles": [role("w", 1001)]},
        ["spec.roles[0].replicas", "less than or equal to 1000"],
    ),
    ("replicas not a number", {"roles": [{**role("w", 1), "replicas": "two"}]}, ["spec.roles[0].replicas"]),
    (
        "minAvailable above replicas",
        {"roles": [role("w", 2, minAvailable=3)]},
        ["minAvailable must not exceed replicas"],
    ),
    ("negative minAvailable", {"roles": [role("w", 2, minAvailable=-1)]}, ["spec.roles[0].minAvailable"]),
    (
        "template missing",
        {"roles": [{"name": "w", "replicas": 1}]},
        ["spec.roles[0].template", "Required value"],
    ),
    # the pod template, checked against core/v1 PodSpec
    (
        "containers of the wrong type",
        {"roles": [{"name": "w", "template": {"spec": {"containers": "x"}}}]},
        ["spec.roles[0].template.spec.containers", "array"],
    ),
    (
        "container without a name",
        {"roles": [{"name": "w", "template": {"spec": {"containers": [{"image": "x"}]}}}]},
        ["spec.roles[0].template.spec.containers[0].name", "Required value"],
    ),
    (
        "cpu request of the wrong type",
        {"roles": [with_container(resources={"requests": {"cpu": [1]}})]},
        ["spec.roles[0].template.spec.containers[0].resources.requests.cpu"],
    ),
    (
        "unknown field in the template",
        {"roles": [with_container(imagePullPolcy="Never")]},
        ['unknown field "spec.roles[0].template.spec.containers[0].imagePullPolcy"'],
    ),
    (
        "port of the wrong type",
        {"roles": [with_container(ports=[{"containerPort": "http"}])]},
        ["spec.roles[0].template.spec.containers[0].ports[0].containerPort"],
    ),
    # gang
    (
        "timeout zero",
        {"roles": [role("w", 1)], "gang": {"scheduleTimeoutSeconds": 0}},
        ["spec.gang.scheduleTimeoutSeconds"],
    ),
    (
        "timeout over a day",
        {"roles": [role("w", 1)], "gang": {"scheduleTimeoutSeconds": 86401}},
        ["spec.gang.scheduleTimeoutSeconds"],
    ),
    # topology
    (
        "topology without levels",
        topology(levels=[]),
        ["spec.gang.topology.levels", "at least 1"],
    ),
    (
        "topology level named twice",
        topology(levels=["zone", "zone"], level="zone"),
        ["topology.levels must not name a label twice"],
    ),
    (
        "topology level not a label key",
        topology(levels=["rack id"], level="rack id"),
        ["spec.gang.topology.levels[0]"],
    ),
    (
        "topology level not among the levels",
        topology(levels=["zone", "rack"], level="host"),
        ["topology.level must be one of topology.levels"],
    ),
    (
        "required topology without a level",
        topology(levels=["zone"]),
        ["topology.level is required when topology.mode is Required"],
    ),
    (
        "unknown topology mode",
        topology(levels=["zone"], mode="Sometimes"),
        ["spec.gang.topology.mode", "Unsupported value"],
    ),
    (
        "role topology level named twice",
        {"roles": [{**role("w", 1), "topology": {"levels": ["a", "a"], "mode": "Preferred"}}]},
        ["topology.levels must not name a label twice"],
    ),
    # failure policy
    (
        "unknown action",
        rule(action="Explode", onReasons=["OOMKilled"]),
        ["spec.failurePolicy.rules[0].action", "Unsupported value"],
    ),
    (
        "unknown reason",
        rule(action="FailGroup", onReasons=["Sunburn"]),
        ["spec.failurePolicy.rules[0].onReasons[0]"],
    ),
    (
        "rule without a matcher",
        rule(action="FailGroup"),
        ["exactly one of onExitCodes, onReasons or onPodConditions"],
    ),
    (
        "rule with two matchers",
        rule(action="FailGroup", onReasons=["OOMKilled"], onExitCodes={"operator": "In", "values": [1]}),
        ["exactly one of onExitCodes, onReasons or onPodConditions"],
    ),
    (
        "exit code zero",
        rule(action="FailGroup", onExitCodes={"operator": "In", "values": [0]}),
        ["spec.failurePolicy.rules[0].onExitCodes.values[0]", "greater than or equal to 1"],
    ),
    (
        "exit code above 255",
        rule(action="FailGroup", onExitCodes={"operator": "In", "values": [256]}),
        ["spec.failurePolicy.rules[0].onExitCodes.values[0]", "less than or equal to 255"],
    ),
    (
        "duplicate exit codes",
        rule(action="FailGroup", onExitCodes={"operator": "In", "values": [1, 1]}),
        ["spec.failurePolicy.rules[0].onExitCodes.values[1]", "Duplicate value"],
    ),
    (
        "unknown exit code operator",
        rule(action="FailGroup", onExitCodes={"operator": "Maybe", "values": [1]}),
        ["spec.failurePolicy.rules[0].onExitCodes.operator"],
    ),
    (
        "pod condition status not True/False/Unknown",
        rule(action="RecreatePod", onPodConditions=[{"type": "DisruptionTarget", "status": "Yes"}]),
        ["spec.failurePolicy.rules[0].onPodConditions[0].status"],
    ),
    (
        "backoff initial above max",
        policy(backoff={"initialSeconds": 100, "maxSeconds": 10}),
        ["initialSeconds must not exceed maxSeconds"],
    ),
    ("negative budget", policy(maxRestarts=-1), ["spec.failurePolicy.maxRestarts"]),
    ("escalation after zero", policy(escalation={"after": 0}), ["spec.failurePolicy.escalation.after"]),
    (
        "too many rules",
        policy(rules=[{"action": "Ignore", "onReasons": ["Error"]}] * 21),
        ["spec.failurePolicy.rules", "must have at most 20"],
    ),
    # network
    (
        "leader role that is not a role",
        {"roles": [role("w", 1)], "network": {"leaderRole": "chief"}},
        ["spec.network.leaderRole must name one of spec.roles"],
    ),
    (
        "headlessService not a boolean",
        {"roles": [role("w", 1)], "network": {"headlessService": "yes"}},
        ["spec.network.headlessService"],
    ),
]


@pytest.mark.parametrize(("what", "spec", "words"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_podgroup_is_refused_with_a_message_naming_the_field(
    crd_installed: None, what: str, spec: dict[str, Any], words: list[str]
) -> None:
    body = podgroup("invalid", role("w", 1))
    body["spec"] = spec
    result = kubectl(
        "apply", "--dry-run=server", "-n", "default", "-f", "-", input=json.dumps(body), check=False
    )
    assert result.returncode != 0, f"{what} was accepted"
    for word in words:
        assert word in result.stderr, f"{what}: {word!r} not in {result.stderr!r}"


@pytest.mark.parametrize(
    ("name", "member", "words"),
    [
        ("x" * 41, role("w", 1), ["at most 40 characters"]),
        ("Bad_Name", role("w", 1), ["metadata.name"]),
        # members get the subdomain <name>, the headless Service is named <name>
        ("train.v2", role("w", 1), ["metadata.name must be a DNS label"]),
        ("2train", role("w", 1), ["metadata.name must start with a letter"]),
        # x...x-w...w-999: 65 characters, not a hostname
        ("x" * 40, role("w" * 20, 1000), ["must be at most 63 characters (a DNS label)"]),
    ],
)
def test_invalid_group_name_is_refused(
    crd_installed: None, name: str, member: dict[str, Any], words: list[str]
) -> None:
    body = podgroup(name, member)
    result = kubectl(
        "apply", "--dry-run=server", "-n", "default", "-f", "-", input=json.dumps(body), check=False
    )
    assert result.returncode != 0
    for word in words:
        assert word in result.stderr


# Objects that pass the schema but fail later. A template the API server refuses is covered by
# test_foundation.py::test_template_refused_by_api_server_becomes_condition_and_event.


def _running(groups: PodGroups, name: str, count: int) -> bool:
    pods = groups.pods(name)
    return len(pods) == count and all(p.status.phase == "Running" for p in pods)


def _same_process(operator: OperatorProcess | None, pid: int | None) -> None:
    """No crash, so no crash loop: the very process the test started with is still serving."""
    if operator is not None:
        assert operator.alive() and operator.proc is not None and operator.proc.pid == pid


def test_quota_exceeded_ends_as_condition_and_event_and_spares_other_groups(
    api: client.ApiClient, namespace: str, operator: OperatorProcess | None
) -> None:
    pid = operator.proc.pid if operator and operator.proc else None
    core = client.CoreV1Api(api)
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="small"),
        spec=client.V1ResourceQuotaSpec(hard={"requests.cpu": "1"}),
    )
    core.create_namespaced_resource_quota(namespace, quota)
    # The quota controller must have counted usage before admission enforces it.
    eventually(
        lambda: (core.read_namespaced_resource_quota("small", namespace).status.hard or {}).get(
            "requests.cpu"
        ),
        what="the quota to be observed",
    )
    groups = PodGroups(api, namespace)
    groups.create(podgroup("big", role("w", 3, cpu="500m")))  # 2 fit in the quota, the third cannot

    cond = eventually(
        lambda: (c := groups.condition("big", "PodsCreated")) and c["status"] == "False" and c,
        what="PodsCreated=False",
    )
    assert cond["reason"] == "CreateFailed" and "exceeded quota" in cond["message"], cond
    events = eventually(
        lambda: [e for e in groups.events("big") if e.reason == "CreateFailed"], what="a CreateFailed event"
    )
    assert events[0].type == "Warning" and "exceeded quota" in events[0].message
    assert len(groups.pods("big")) == 2

    # Another group, served by the same operator process, is not affected.
    other_ns = f"e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other_ns)))
    try:
        others = PodGroups(api, other_ns)
        others.create(podgroup("healthy", role("w", 2)))
        eventually(lambda: _running(others, "healthy", 2), what="the healthy group running")
    finally:
        core.delete_namespace(other_ns)
    # Retried with backoff, announced once: not a hot loop of refusals and events.
    assert len([e for e in groups.events("big") if e.reason == "CreateFailed"]) == 1
    _same_process(operator, pid)

    # Room in the quota: the refused member is created, and the condition clears.
    core.patch_namespaced_resource_quota("small", namespace, {"spec": {"hard": {"requests.cpu": "2"}}})
    eventually(
        lambda: (c := groups.condition("big", "PodsCreated")) and c["status"] == "True",
        timeout=120,
        what="PodsCreated=True once the quota allows it",
    )


def test_namespace_being_deleted_under_a_group_ends_cleanly(
    api: client.ApiClient, namespace: str, operator: OperatorProcess | None
) -> None:
    pid = operator.proc.pid if operator and operator.proc else None
    core = client.CoreV1Api(api)
    doomed = f"e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=doomed)))
    going = PodGroups(api, doomed)
    going.create(podgroup("big", role("w", 30)))
    # Deleted while the operator is still creating members: creates are refused ("being
    # terminated") and the group itself goes with the namespace.
    eventually(lambda: going.pods("big"), interval=0.05, what="a first member")
    core.delete_namespace(doomed)

    def gone() -> bool:
        try:
            core.read_namespace(doomed)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, timeout=120, what="the namespace gone: nothing of ours holds it")
    groups = PodGroups(api, namespace)
    groups.create(podgroup("healthy", role("w", 2)))
    eventually(lambda: _running(groups, "healthy", 2), what="the healthy group running")
    _same_process(operator, pid)
