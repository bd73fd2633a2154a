"""The deployed operator runs examples/training-gang.yaml end to end (gang start, a crash, the
whole group restarted in place), and its /metrics counts what it did."""

from __future__ import annotations

from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.examples import run_training_gang
from tests.e2e.podgroups import PodGroups
from tests.install.metrics_scrape import from_pod_ip, samples


def group_restarts(pod: client.V1Pod) -> float:
    """podgroup_restarts_total{action="RestartGroupInPlace"}, whatever the failure reason."""
    return sum(
        value
        for (name, labels), value in samples(from_pod_ip(pod.status.pod_ip)).items()
        if name == "podgroup_restarts_total" and ("action", "RestartGroupInPlace") in labels
    )


def test_training_gang_restarts_in_place_under_the_deployed_operator(
    api: client.ApiClient, namespace: str, real_node: str, active_pod: client.V1Pod
) -> None:
    before = group_restarts(active_pod)
    run_training_gang(PodGroups(api, namespace))
    eventually(
        lambda: group_restarts(active_pod) >= before + 1, timeout=120, what="the restart counted in /metrics"
    )
    admitted = samples(from_pod_ip(active_pod.status.pod_ip))
    assert admitted.get(("podgroup_gang_admission_wait_seconds_count", ()), 0) >= 1
