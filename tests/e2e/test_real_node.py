"""The real node of the local cluster runs real containers: exits, OOM kills, in-place resize,
usage metrics. These are the facts the operator's restart and resize features stand on."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually
from tests.e2e.realnode import MEMORY_HOG, ON_REAL_NODE, TOOLS_IMAGE, container_cgroup


def pod(name: str, command: list[str] | None, resources: dict[str, Any], **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "c",
        "image": TOOLS_IMAGE,
        "imagePullPolicy": "Never",
        "resources": resources,
    }
    if command:
        container["command"] = command
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {**ON_REAL_NODE, "containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }


@pytest.fixture
def core(api: client.ApiClient, real_node: str) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def status_of(core: client.CoreV1Api, ns: str, name: str) -> client.V1ContainerStatus | None:
    statuses = core.read_namespaced_pod(name, ns).status.container_statuses or []
    return statuses[0] if statuses else None


def test_exit_code_is_reported_and_the_container_restarts(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, pod("exit42", ["sh", "-c", "sleep 1; exit 42"], {}))
    cs = eventually(
        lambda: (s := status_of(core, namespace, "exit42")) and s.restart_count >= 1 and s,
        timeout=90,
        what="a restart",
    )
    assert cs.last_state.terminated.exit_code == 42
    assert cs.last_state.terminated.reason == "Error"
    first = cs.restart_count
    eventually(
        lambda: status_of(core, namespace, "exit42").restart_count > first,
        timeout=120,
        what="restartCount to increment again",
    )


def test_memory_hog_is_oom_killed(core: client.CoreV1Api, namespace: str) -> None:
    limits = {"limits": {"memory": "32Mi", "cpu": "200m"}}
    core.create_namespaced_pod(
        namespace,
        pod("oom", ["sh", "-c", MEMORY_HOG], limits, restartPolicy="Never"),
    )
    cs = eventually(
        lambda: (s := status_of(core, namespace, "oom")) and s.state.terminated and s,
        timeout=90,
        what="the container to end",
    )
    assert cs.state.terminated.reason == "OOMKilled"
    assert cs.state.terminated.exit_code == 137


def test_cpu_is_resized_in_place_through_the_resize_subresource(
    core: client.CoreV1Api, namespace: str
) -> None:
    resources = {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}
    core.create_namespaced_pod(namespace, pod("resize", None, resources))
    before = eventually(
        lambda: (p := core.read_namespaced_pod("resize", namespace)) and p.status.phase == "Running" and p,
        timeout=90,
        what="Running",
    )
    cs = before.status.container_statuses[0]
    cgroup = container_cgroup("cpu", before, cs.container_id)
    assert (cgroup / "cpu.cfs_quota_us").read_text().strip() == "20000"

    core.patch_namespaced_pod_resize(
        "resize",
        namespace,
        {
            "spec": {
                "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": "300m"}, "limits": {"cpu": "500m"}}}
                ]
            }
        },
    )

    def resized() -> client.V1Pod | None:
        p = core.read_namespaced_pod("resize", namespace)
        res = p.status.container_statuses[0].resources
        return p if res and res.limits and res.limits.get("cpu") == "500m" else None

    after = eventually(resized, timeout=60, what="status resources to show the new CPU limit")
    assert after.metadata.uid == before.metadata.uid
    assert after.status.container_statuses[0].restart_count == cs.restart_count
    assert after.status.container_statuses[0].container_id == cs.container_id
    assert after.status.container_statuses[0].resources.requests["cpu"] == "300m"
    assert (cgroup / "cpu.cfs_quota_us").read_text().strip() == "50000"


def test_busy_pod_shows_cpu_usage_through_metrics_api(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(
        namespace, pod("busy", ["sh", "-c", "yes > /dev/null"], {"limits": {"cpu": "300m", "memory": "32Mi"}})
    )
    metrics = client.CustomObjectsApi(api)

    def cpu_usage() -> int | None:
        try:
            m = metrics.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", "busy")
        except client.ApiException:
            return None
        usage = m["containers"][0]["usage"]["cpu"]  # e.g. "298123456n"
        value = int(usage.rstrip("n")) if usage.endswith("n") else int(float(usage.rstrip("m")) * 1e6)
        return value if value > 0 else None

    assert eventually(cpu_usage, timeout=90, interval=2, what="CPU usage from metrics.k8s.io") > 0
