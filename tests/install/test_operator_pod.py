"""The deployed operator's pod: locked down as its manifests promise (checked on the running
process, not only on the spec), and serving the project's metrics."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from podgroup_operator.metrics import REGISTRY
from tests.e2e.cluster import kubectl
from tests.install.conftest import NAMESPACE
from tests.install.metrics_scrape import from_pod_ip, samples, through_service

NONROOT = 65532


def in_pod(pod: client.V1Pod, *command: str, check: bool = True) -> str:
    result = kubectl(
        "-n", NAMESPACE, "exec", pod.metadata.name, "-c", "operator", "--", *command, check=check
    )
    return result.stdout + result.stderr


@pytest.fixture(params=range(2), ids=lambda i: f"replica{i}")
def operator_pod(request: pytest.FixtureRequest, operator_pods: list[client.V1Pod]) -> client.V1Pod:
    """Each replica in turn (the waiting one runs the same process)."""
    if request.param >= len(operator_pods):
        pytest.skip(f"the Deployment has {len(operator_pods)} replica(s)")
    pod: client.V1Pod = operator_pods[request.param]
    return pod


def test_spec_runs_non_root_with_a_read_only_root_filesystem(operator_pod: client.V1Pod) -> None:
    pod_sc = operator_pod.spec.security_context
    assert pod_sc.run_as_non_root and pod_sc.run_as_user == NONROOT
    (container,) = operator_pod.spec.containers
    sc = container.security_context
    assert sc.read_only_root_filesystem is True
    assert sc.allow_privilege_escalation is False and not sc.privileged
    assert sc.capabilities.drop == ["ALL"] and not sc.capabilities.add
    assert sc.seccomp_profile.type == "RuntimeDefault"
    assert container.resources.requests and container.resources.limits


def test_the_running_operator_process_is_unprivileged(operator_pod: client.V1Pod) -> None:
    # PID 1 of the container is the operator itself (the image's entrypoint, no shell).
    cmdline = in_pod(operator_pod, "cat", "/proc/1/cmdline").split("\0")
    assert cmdline[0].startswith("/opt/podgroup-operator/bin/python"), cmdline
    assert cmdline[1] == "/opt/podgroup-operator/bin/podgroup-operator", cmdline
    assert cmdline[2] == "run"
    status = dict(line.split(":", 1) for line in in_pod(operator_pod, "cat", "/proc/1/status").splitlines())
    assert status["Uid"].split() == [str(NONROOT)] * 4, status["Uid"]
    assert status["Gid"].split() == [str(NONROOT)] * 4, status["Gid"]
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["Seccomp"].strip() == "2"  # filter mode: RuntimeDefault is applied
    # The root filesystem is mounted read-only; /tmp is the writable emptyDir.
    root = next(
        line
        for line in in_pod(operator_pod, "cat", "/proc/1/mountinfo").splitlines()
        if line.split()[4] == "/"
    )
    assert "ro" in root.split()[5].split(","), root
    assert "Read-only file system" in in_pod(operator_pod, "touch", "/opt/probe", check=False)
    in_pod(operator_pod, "touch", "/tmp/probe")


def test_metrics_are_served_through_the_service_and_on_the_pod_ip(active_pod: client.V1Pod) -> None:
    defined = {family.name for family in REGISTRY.collect()}
    for text in (through_service(), from_pod_ip(active_pod.status.pod_ip)):
        served = {family.name for family in text_string_to_metric_families(text)}
        missing = defined - served
        assert not missing, f"metrics the operator defines but does not serve: {sorted(missing)}"


def test_every_replica_is_ready_and_the_leader_says_it_watches_everything(
    operator_pods: list[client.V1Pod], active_pod: client.V1Pod
) -> None:
    """/readyz, as the kubelet's readiness probe reads it: the leader with every watch
    established, the followers standing by; and the pods' Ready condition agrees."""
    for pod in operator_pods:
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/readyz", timeout=10) as response:
            body = json.loads(response.read())
        role = "leader" if pod.metadata.name == active_pod.metadata.name else "follower"
        assert body == {"ready": True, "role": role}, pod.metadata.name
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []), (
            pod.metadata.name
        )
    assert samples(from_pod_ip(active_pod.status.pod_ip))[("podgroup_operator_ready", ())] == 1
