"""What the cluster supports (core/features.py), how the answers are kept (FeatureWatch), and
what the plan does with them: restart rules only where the API server keeps them,
RestartAllContainers only where it accepts it, resize only recommended without pods/resize."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from podgroup_operator.api.models import PodGroupSpec
from podgroup_operator.core.features import (
    UNKNOWN,
    ClusterFeatures,
    describe,
    kept_pod_resources,
    kept_rules,
    probe_pod,
    serves_resize,
)
from podgroup_operator.core.observed import observe_group
from podgroup_operator.core.reconcile_plan import EarlierSteps, Remembered, Settings, Snapshot, plan_reconcile
from podgroup_operator.core.resize.plan import RESIZE_UNSUPPORTED_MESSAGE, Decision, plan_role
from podgroup_operator.handlers.cluster_features import FeatureWatch
from podgroup_operator.handlers.reconcile import reconcile
from podgroup_operator.metrics import CLUSTER_FEATURE
from tests.builders import NodeBuilder
from tests.unit.handler_fakes import FakeWriter, context
from tests.unit.test_resize_plan import AUTO, pod, rec

ALL = ClusterFeatures("v1.37.2", True, True, True, True)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_each_probe_asks_about_one_feature() -> None:
    rules = probe_pod(rule_action="RestartAllContainers")
    container = rules["spec"]["containers"][0]
    assert container["restartPolicy"] == "Never"
    assert container["restartPolicyRules"][0]["action"] == "RestartAllContainers"
    assert "resources" not in rules["spec"]
    sized = probe_pod(pod_resources=True)
    assert sized["spec"]["resources"]["requests"] == {"cpu": "1m", "memory": "1Mi"}
    assert "restartPolicyRules" not in sized["spec"]["containers"][0]


def test_a_server_that_drops_the_fields_is_read_as_not_supporting_them() -> None:
    sent = probe_pod(rule_action="Restart")
    assert kept_rules(sent, "Restart") and not kept_rules(sent, "RestartAllContainers")
    dropped = {"spec": {"containers": [{"name": "probe", "image": "x"}]}}
    assert not kept_rules(dropped, "Restart")
    assert kept_pod_resources(probe_pod(pod_resources=True)) and not kept_pod_resources(dropped)


def test_pods_resize_is_found_in_the_core_v1_resource_list() -> None:
    assert serves_resize(["pods", "pods/status", "pods/resize"])
    assert not serves_resize(["pods", "pods/status", "pods/eviction"])


def test_the_log_says_what_is_used_and_what_is_not_known() -> None:
    lines = describe(ALL, native_restart=True, pod_level_resize=False)
    assert lines[0] == "Kubernetes v1.37.2"
    assert "Auto resize applies in place" in lines[1]
    assert "the kubelet restarts containers" in lines[2]
    assert "used on nodes that declare RestartAllContainersOnContainerExits" in lines[3]
    assert "sizes only recommended" in lines[4]
    off = describe(ALL, native_restart=False, pod_level_resize=False)
    assert "(PGO_NATIVE_RESTART=off)" in off[2] and "done by the operator" in off[3]
    unknown = describe(UNKNOWN, native_restart=True, pod_level_resize=False)
    assert all("not found out yet" in line for line in unknown[1:])


def watch(answers: list[ClusterFeatures]) -> tuple[FeatureWatch, list[ClusterFeatures]]:
    published: list[ClusterFeatures] = []

    async def discover() -> ClusterFeatures:
        return answers.pop(0)

    return FeatureWatch(discover, published.append, native_restart=True, pod_level_resize=False), published


def test_an_answer_missing_on_a_later_look_keeps_the_last_one(caplog: pytest.LogCaptureFixture) -> None:
    fw, published = watch([ALL, ClusterFeatures(pods_resize=False)])
    with caplog.at_level(logging.INFO):
        asyncio.run(fw.refresh())
    assert published == [ALL] and fw.features.known
    assert any("cluster features: Kubernetes v1.37.2" in r.message for r in caplog.records)
    assert CLUSTER_FEATURE.labels("pods_resize")._value.get() == 1
    asyncio.run(fw.refresh())
    assert published[-1] == dataclasses.replace(ALL, pods_resize=False)
    assert CLUSTER_FEATURE.labels("pods_resize")._value.get() == 0


def test_the_same_answers_again_publish_and_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    fw, published = watch([ALL, ALL])
    asyncio.run(fw.refresh())
    with caplog.at_level(logging.INFO):
        asyncio.run(fw.refresh())
    assert published == [ALL]
    assert not [r for r in caplog.records if "cluster features" in r.message]


# --- what the plan does with the answers -------------------------------------------------------

FAILURE_POLICY = {
    "rules": [
        {"action": "RestartPodInPlace", "onExitCodes": {"operator": "In", "values": [3]}},
    ]
}


def member_spec(settings: Settings, declared: tuple[str, ...]) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "img"}]}}
    spec = PodGroupSpec.model_validate(
        {"roles": [{"name": "w", "replicas": 1, "template": template}], "failurePolicy": FAILURE_POLICY}
    )
    node = NodeBuilder("n1").allocatable(cpu="8").declared_features(*declared).observed()
    snap = Snapshot("ns", "g", "uid", 1, spec, None, (), {"n1": [node]}, NOW)
    plan = plan_reconcile(
        snap, Remembered(created={}, waiting=None, last_status=None), EarlierSteps(), settings
    )
    return plan.creates[0].body["spec"]["containers"][0]


def test_restart_all_is_written_only_when_the_api_server_accepts_it_and_the_nodes_declare_it() -> None:
    base = Settings(max_creates=4, cluster_domain="cluster.local", native_restart=True)
    declared = ("RestartAllContainersOnContainerExits",)
    accepted = dataclasses.replace(base, restart_all_api=True)
    assert member_spec(accepted, declared)["restartPolicyRules"][0]["action"] == "RestartAllContainers"
    assert "restartPolicyRules" not in member_spec(base, declared)  # the API server would refuse the pod
    assert "restartPolicyRules" not in member_spec(accepted, ())  # no node runs it
    off = dataclasses.replace(accepted, native_restart=False)
    assert "restartPolicyRules" not in member_spec(off, declared)


def test_without_pods_resize_auto_only_recommends_and_says_why() -> None:
    member = pod()
    unsupported = dataclasses.replace(AUTO, resize_subresource=False)
    [decision] = plan_role([member], rec(cpu="2"), unsupported, NOW)
    assert decision.decision == Decision.RESIZE_UNSUPPORTED and not decision.apply
    assert decision.message.startswith(RESIZE_UNSUPPORTED_MESSAGE) and "cpu=2" in decision.message
    [applied] = plan_role([member], rec(cpu="2"), AUTO, NOW)
    assert applied.decision == Decision.RESIZE and applied.apply


def test_the_reconcile_writes_native_rules_only_once_the_features_are_known() -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "img"}]}}
    spec = {"roles": [{"name": "w", "replicas": 1, "template": template}], "failurePolicy": FAILURE_POLICY}
    body = {"metadata": {"namespace": "ns", "name": "g", "uid": "uid-g", "generation": 1}, "spec": spec}
    node = NodeBuilder("n1").allocatable(cpu="8").declared_features("RestartAllContainersOnContainerExits")

    def created_container(features: ClusterFeatures) -> dict[str, Any]:
        writer = FakeWriter()
        ctx = context(writer)
        ctx.features = features
        ctx.groups[("ns", "g")] = [observe_group(body)]  # type: ignore[index]
        ctx.member_pods[("ns", "g")] = []  # type: ignore[index]
        ctx.nodes["n1"] = [node.observed()]  # type: ignore[index]
        asyncio.run(reconcile(ctx, ("ns", "g")))
        [(_, _, pod)] = writer.verbs("create_pod")
        return dict(pod["spec"]["containers"][0])

    assert "restartPolicyRules" not in created_container(UNKNOWN)
    rules = created_container(ALL)["restartPolicyRules"]
    assert rules[0]["action"] == "RestartAllContainers"


def test_every_probe_passes_the_restricted_pod_security_standard() -> None:
    """The operator's namespace enforces Pod Security "restricted": a probe refused there would
    leave every answer unknown (seen in the kind stage before the probes carried this)."""
    for probe in (probe_pod(rule_action="Restart"), probe_pod(pod_resources=True)):
        spec = probe["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            assert c["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
