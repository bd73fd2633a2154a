"""The operator as a process scoped to the trial's namespaces, so it can share a cluster with
other operators; and its liveness record (a crash is an exit the test did not cause)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import ClassVar

from tests.e2e.cluster import kubeconfig
from tests.e2e.conftest import OperatorProcess
from tests.reliability.harness import cluster_dir


class ScopedOperator(OperatorProcess):
    env: ClassVar[dict[str, str]] = {
        **OperatorProcess.env,
        "PGO_METRICS_PORT": "0",  # several operators on one machine: no fixed port to fight over
    }

    def __init__(self, namespaces: list[str], kubeconfig_path: str | None = None) -> None:
        super().__init__()
        self.namespaces = namespaces
        self.kubeconfig_path = kubeconfig_path or kubeconfig()
        self.log_path = cluster_dir() / "logs/operator-reliability.log"
        self.starts = 0
        self.kills = 0
        self.crashes: list[int] = []  # exit codes of exits nobody asked for

    def start(self) -> None:
        self._note_crash()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        scope = [arg for ns in self.namespaces for arg in ("--namespace", ns)]
        if os.environ.get("PGO_RELIABILITY_OPERATOR_VERBOSE"):
            scope.append("--verbose")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "podgroup_operator", "run", *scope],
                env={**os.environ, **self.env, "KUBECONFIG": self.kubeconfig_path},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        self._note_crash()
        super().kill()
        self.kills += 1

    def _note_crash(self) -> None:
        if self.proc is not None and self.proc.poll() is not None and self.proc.returncode != -9:
            self.crashes.append(self.proc.returncode)
            self.proc = None

    def assert_recovered(self) -> None:
        """Alive now, and every exit was one of our SIGKILLs: no crash, so no crash loop."""
        self._note_crash()
        assert not self.crashes, f"the operator exited on its own with {self.crashes} (log: {self.log_path})"
        assert self.alive(), f"the operator is not running (log: {self.log_path})"
