"""Fake kwok nodes a test makes for itself, so its capacity is its own."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubernetes import client

from tests.e2e.cluster import REPO, eventually


class NodePool:
    """Nodes labelled e2e-pool=<name>; pods select them with pool.selector."""

    def __init__(self, api: client.ApiClient, name: str) -> None:
        self.core = client.CoreV1Api(api)
        self.name = name
        self.nodes: list[str] = []

    @property
    def selector(self) -> dict[str, str]:
        return {"e2e-pool": self.name}

    def add(
        self,
        count: int = 1,
        *,
        cpu: str = "4",
        memory: str = "8Gi",
        pods: str = "110",
        labels: dict[str, str] | None = None,
    ) -> list[str]:
        added = []
        for _ in range(count):
            node = f"{self.name}-{len(self.nodes)}"
            capacity = {"cpu": cpu, "memory": memory, "pods": pods}
            body = client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=node,
                    annotations={"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    labels={
                        "e2e-pool": self.name,
                        "kubernetes.io/hostname": node,
                        "type": "kwok",
                        **(labels or {}),
                    },
                ),
                status=client.V1NodeStatus(allocatable=capacity, capacity=capacity),
            )
            self.core.create_node(body)
            self.nodes.append(node)
            added.append(node)
        for node in added:
            eventually(lambda n=node: _ready(self.core.read_node(n)), what=f"node {node} Ready")
        return added

    def taint(self, node: str, key: str = "e2e/broken") -> None:
        taint = {"key": key, "value": "true", "effect": "NoSchedule"}
        self.core.patch_node(node, {"spec": {"taints": [taint]}})

    def delete(self) -> None:
        for node in self.nodes:
            try:
                self.core.delete_node(node)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


def _ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


@contextmanager
def scheduler_paused() -> Iterator[None]:
    """SIGSTOP the cluster's kube-scheduler and resume it after: the local harness's (its PID file),
    or the one PGO_E2E_SCHEDULER_PID_FILE names (the kind stage's, in its node)."""
    default = Path(os.environ.get("CLUSTER_DIR", REPO / ".cluster")) / "pids/kube-scheduler.pid"
    pid_file = Path(os.environ.get("PGO_E2E_SCHEDULER_PID_FILE", default))
    pid = int(pid_file.read_text())
    # The program's name, not comm: comm is cut at 15 characters (the harness's binary is
    # kube-scheduler-<version>).
    program = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()).name
    assert program.startswith("kube-scheduler"), f"{pid_file} names PID {pid}, which runs {program!r}"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
