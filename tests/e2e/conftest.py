"""e2e fixtures: the CRD installed, the operator running as a real process, a namespace per test.

The cluster itself is started by `make test` (hack/test.sh) or by the developer
(`make cluster-up`); these tests talk to whatever KUBECONFIG points at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.e2e.cluster import REPO, kubeconfig, kubectl


@pytest.fixture(scope="session")
def api() -> client.ApiClient:
    if not Path(kubeconfig()).exists():
        pytest.fail(f"no cluster: {kubeconfig()} does not exist (run `make cluster-up` or `make test`)")
    return config.new_client_from_config(config_file=kubeconfig())


@pytest.fixture(scope="session")
def crd_installed(api: client.ApiClient) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/podgroups.podgroup.dev", "--timeout=60s")


@pytest.fixture(scope="session")
def operator(crd_installed: None) -> Iterator[subprocess.Popen[bytes]]:
    """The operator as its own process, as users run it; stopped by PID at the end."""
    if os.environ.get("PGO_E2E_EXTERNAL_OPERATOR"):
        yield None  # type: ignore[misc]  # deployed in the cluster by the caller
        return
    log_dir = REPO / ".cluster/logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "operator-e2e.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "podgroup_operator", "run"],
            env={**os.environ, "KUBECONFIG": kubeconfig()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def namespace(api: client.ApiClient, operator: subprocess.Popen[bytes]) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
