"""Fixtures for the install tests: the operator as users install it, deployed IN the cluster
(hack/image/deploy.sh up, i.e. `make deploy`), not a process these tests start.

They run only with PGO_E2E_EXTERNAL_OPERATOR=1 (hack/test.sh sets it after deploying; by hand:
`make deploy` then `PGO_E2E_EXTERNAL_OPERATOR=1 pytest tests/install`). Their namespaces are
named pgo-install-*, so a developer can deploy an operator that watches only those
(PGO_DEPLOY_NAMESPACES='pgo-install-*' make deploy) on a cluster shared with other tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.cluster import eventually

# The e2e suite's cluster fixtures, shared (pytest finds fixtures imported into a conftest).
from tests.e2e.conftest import api, crd_installed, real_node  # noqa: F401

NAMESPACE = "podgroup-system"
DEPLOYMENT = "podgroup-operator"
SERVICE_ACCOUNT = "podgroup-operator"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("PGO_E2E_EXTERNAL_OPERATOR"):
        return
    skip = pytest.mark.skip(
        reason="needs the operator deployed in the cluster: make deploy, then PGO_E2E_EXTERNAL_OPERATOR=1"
    )
    for item in items:
        if "tests/install/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def operator_pods(api: client.ApiClient, crd_installed: None) -> list[client.V1Pod]:  # noqa: F811
    """Every pod of the Deployment (one per replica), each Running and Ready."""
    core = client.CoreV1Api(api)
    deployment = client.AppsV1Api(api).read_namespaced_deployment(DEPLOYMENT, NAMESPACE)
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    pods = [
        p
        for p in core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        if p.metadata.deletion_timestamp is None
    ]
    assert len(pods) == deployment.spec.replicas, [p.metadata.name for p in pods]
    for pod in pods:
        assert pod.status.phase == "Running", pod.status
        assert all(c.ready for c in pod.status.container_statuses), pod.status.container_statuses
    return pods


@pytest.fixture(scope="session")
def active_pod(operator_pods: list[client.V1Pod]) -> client.V1Pod:
    """The replica that runs the operator (with leader election the others only wait): the
    one whose /metrics says podgroup_operator_active 1. Every replica serves /metrics."""
    from tests.install.metrics_scrape import from_pod_ip, samples

    def active(pod: client.V1Pod) -> float | None:
        try:
            return samples(from_pod_ip(pod.status.pod_ip)).get(("podgroup_operator_active", ()))
        except OSError:
            return None

    def all_serving_one_active() -> list[client.V1Pod] | None:
        values = [active(p) for p in operator_pods]
        if None in values:
            return None
        return [p for p, value in zip(operator_pods, values, strict=True) if value == 1] or None

    leaders = eventually(
        all_serving_one_active, timeout=90, what="every replica serving /metrics, one active"
    )
    assert len(leaders) == 1, [p.metadata.name for p in leaders]
    return leaders[0]


@pytest.fixture
def namespace(api: client.ApiClient, active_pod: client.V1Pod) -> Iterator[str]:  # noqa: F811
    name = f"pgo-install-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
