"""e2e fixtures: the CRD installed, the operator running as a real process, a namespace per test.

The cluster itself is started by `make test` (hack/test.sh) or by the developer
(`make cluster-up`); these tests talk to whatever KUBECONFIG points at.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from kubernetes import client, config

from tests.e2e.cluster import REPO, eventually, kubeconfig, kubectl


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """The operator as its own process, as users run it; tests may kill and restart it. Each
    start gets a free port for /metrics and /readyz, so several can share a machine."""

    env: ClassVar[dict[str, str]] = {
        # Short backoffs keep rollback tests quick; the defaults are for production.
        "PGO_GANG_BACKOFF_BASE_SECONDS": "2",
        "PGO_GANG_BACKOFF_MAX_SECONDS": "10",
        # The recommender acts on a few samples (metrics-server here scrapes every 10 s).
        "PGO_RESIZE_INTERVAL_SECONDS": "5",
        "PGO_RESIZE_MIN_SAMPLES": "2",
        "PGO_RESIZE_MIN_HISTORY_SECONDS": "10",
    }
    # How long a start may take to become ready: generous, the machine may be busy.
    READY_SECONDS = 180.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = REPO / ".cluster/logs/operator-e2e.log"
        self.python = sys.executable
        self.metrics_port = 0

    def args(self) -> list[str]:
        return []

    def process_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.env,
            "KUBECONFIG": kubeconfig(),
            "PGO_METRICS_PORT": str(self.metrics_port),
        }

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.metrics_port = free_port()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "podgroup_operator", "run", *self.args()],
                env=self.process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.cwd()),
            )

    def cwd(self) -> Path:
        return REPO

    def readyz(self) -> tuple[int, dict[str, Any]] | None:
        """/readyz's status code and body, or None while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout: float | None = None) -> None:
        """Until /readyz says every watch is established (a dead process fails at once)."""

        def ready() -> tuple[int, dict[str, Any]] | None:
            assert self.alive(), (
                f"the operator exited ({self.proc and self.proc.returncode}); log: {self.log_path}"
            )
            answer = self.readyz()
            return answer if answer and answer[0] == 200 else None

        eventually(ready, timeout=timeout or self.READY_SECONDS, what=f"the operator ready ({self.log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers run, as in a crash or an OOM kill."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def operator(crd_installed: None) -> Iterator[OperatorProcess | None]:
    if os.environ.get("PGO_E2E_EXTERNAL_OPERATOR"):
        yield None  # deployed in the cluster by the caller
        return
    op = OperatorProcess()
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
    """The real kubelet node; tests that need real containers skip, with the harness's reason,
    only where it could not start (on the project's machines it must)."""
    from tests.e2e.realnode import REAL_NODE, unavailable_reason

    try:
        node = client.CoreV1Api(api).read_node(REAL_NODE)
    except client.ApiException as exc:
        pytest.skip(f"real node {REAL_NODE} is not there: {unavailable_reason() or exc.reason}")
    if not any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
        pytest.skip(f"real node {REAL_NODE} is not Ready: {unavailable_reason() or 'see .cluster/node/logs'}")
    return REAL_NODE
