"""Reliability suite: faults injected into a real cluster, repeated, with invariants checked
from cluster state after each trial. Points at KUBECONFIG (else .cluster/kubeconfig); the
control-plane components are found through that cluster's folder (CLUSTER_DIR, else the
kubeconfig's folder). PGO_RELIABILITY_TRIALS sets the trials per fault (default 20)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from tests.e2e.conftest import api, crd_installed  # noqa: F401  shared fixtures
from tests.e2e.podgroups import PodGroups
from tests.reliability.figures import FIGURES
from tests.reliability.harness import cluster_dir
from tests.reliability.operator import ScopedOperator


def new_namespace(core: client.CoreV1Api) -> str:
    name = f"rel-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@pytest.fixture(scope="module")
def namespace(api: client.ApiClient, crd_installed: None) -> Iterator[str]:  # noqa: F811
    core = client.CoreV1Api(api)
    name = new_namespace(core)
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def operator(namespace: str) -> Iterator[ScopedOperator]:
    op = ScopedOperator([namespace])
    op.start()
    op.wait_ready()
    yield op
    op.stop()


@pytest.fixture(scope="module")
def groups(api: client.ApiClient, namespace: str) -> PodGroups:  # noqa: F811
    return PodGroups(api, namespace)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.trials:
        return
    out = Path(os.environ.get("PGO_RELIABILITY_RESULTS") or cluster_dir() / "logs/reliability.json")
    FIGURES.write(out)
    terminalreporter.section("reliability figures")
    for line in FIGURES.summary():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(trials as JSON: {out})")
