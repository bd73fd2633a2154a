"""The operator as a process scoped to the trial's namespaces, so it can share a cluster with
other operators; and its liveness record (a crash is an exit the test did not cause)."""

from __future__ import annotations

import os

from tests.e2e.cluster import kubeconfig
from tests.operator_process import TEST_ENV, OperatorProcess
from tests.reliability.harness import cluster_dir


class ScopedOperator(OperatorProcess):
    def __init__(self, namespaces: list[str], kubeconfig_path: str | None = None) -> None:
        scope = [arg for ns in namespaces for arg in ("--namespace", ns)]
        if os.environ.get("PGO_RELIABILITY_OPERATOR_VERBOSE"):
            scope.append("--verbose")
        super().__init__(
            cluster_dir() / "logs/operator-reliability.log",
            args=scope,
            env=TEST_ENV,
            kubeconfig=kubeconfig_path or kubeconfig(),
        )
        self.namespaces = namespaces
        self.starts = 0
        self.kills = 0
        self.crashes: list[int] = []  # exit codes of exits nobody asked for

    def start(self) -> None:
        self._note_crash()
        super().start()
        self.starts += 1

    def stop(self, timeout: float = 20) -> None:
        """A graceful stop the test asked for: not a crash."""
        super().stop(timeout)
        self.proc = None

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
