"""e2e fixtures: the CRD installed, the operator running as a real process, a namespace per test.

The cluster itself is started by `make test` (hack/test.sh) or by the developer
(`make cluster-up`); these tests talk to whatever KUBECONFIG points at.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.e2e.cluster import REPO, eventually, kubeconfig, kubectl
from tests.operator_process import TEST_ENV, OperatorProcess

LOCAL_OPERATOR_ONLY: list[str] = []  # what the kind stage deselected, for its summary line


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Where the operator runs in the cluster, tests that control a local operator process are
    deselected, not skipped: they are the local stage's, which runs them in the same make test."""
    if not os.environ.get("PGO_E2E_EXTERNAL_OPERATOR"):
        return
    local = [i for i in items if i.get_closest_marker("local_operator")]
    if local:
        LOCAL_OPERATOR_ONLY.extend(i.nodeid for i in local)
        config.hook.pytest_deselected(items=local)
        items[:] = [i for i in items if not i.get_closest_marker("local_operator")]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LOCAL_OPERATOR_ONLY:
        terminalreporter.write_line(
            f"deselected {len(LOCAL_OPERATOR_ONLY)} tests that start, stop or kill a local operator "
            "process (the operator runs in the cluster here; the local stage runs them)"
        )


@pytest.fixture(scope="session")
def api() -> client.ApiClient:
    if not Path(kubeconfig()).exists():
        pytest.fail(f"no cluster: {kubeconfig()} does not exist (run `make cluster-up` or `make test`)")
    return config.new_client_from_config(config_file=kubeconfig())


@pytest.fixture(scope="session")
def crd_installed(api: client.ApiClient) -> None:
    """The CRD applied and Established, read from the API server's own object.

    kubectl is used only to apply: right after cluster-up its discovery may still be stale
    (the aggregated metrics API comes up last), so the apply is retried; the Established
    condition is read through the API client, which needs no discovery."""
    eventually(
        lambda: (
            kubectl(
                "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"), check=False
            ).returncode
            == 0
        ),
        timeout=90,
        what="the CRD to apply",
    )
    extensions = client.ApiextensionsV1Api(api)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition("podgroups.podgroup.dev")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    eventually(established, timeout=60, what="the CRD to be Established")


def e2e_operator(**env: str) -> OperatorProcess:
    """The operator as the e2e tests run it (TEST_ENV, and `env` on top), logging where the
    stage prints from when it fails."""
    return OperatorProcess(REPO / ".cluster/logs/operator-e2e.log", env={**TEST_ENV, **env})


@pytest.fixture(scope="session")
def operator(crd_installed: None) -> Iterator[OperatorProcess | None]:
    if os.environ.get("PGO_E2E_EXTERNAL_OPERATOR"):
        yield None  # deployed in the cluster by the caller
        return
    op = e2e_operator()
    op.start()
    op.wait_ready()
    yield op
    op.stop()


@pytest.fixture
def namespace(api: client.ApiClient, operator: OperatorProcess | None) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def real_node(api: client.ApiClient) -> str:
    """The node with a real kubelet and container runtime: the harness's real-0, or the kind
    node, each labelled podgroup.dev/node-kind=real. Tests that need real containers skip, with
    the harness's reason, only where it could not start (on the project's machines it must)."""
    from tests.e2e.realnode import REAL_NODE_LABEL, unavailable_reason

    selector = "=".join(REAL_NODE_LABEL)
    nodes = client.CoreV1Api(api).list_node(label_selector=selector).items
    if not nodes:
        pytest.skip(f"no node labelled {selector}: {unavailable_reason() or 'the cluster has none'}")
    if len(nodes) > 1:
        raise AssertionError(f"more than one node labelled {selector}: {[n.metadata.name for n in nodes]}")
    (node,) = nodes
    if not any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
        pytest.skip(f"real node {node.metadata.name} is not Ready: {unavailable_reason() or 'see its logs'}")
    return node.metadata.name
