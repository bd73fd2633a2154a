"""The cluster's own components, stopped and started through the harness (hack/lib.sh), by the
PIDs it recorded in CLUSTER_DIR/pids: never by process name."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.cluster import REPO, kubeconfig


def cluster_dir() -> Path:
    """The folder of the cluster KUBECONFIG points at (hack/cluster-up.sh writes it there)."""
    if os.environ.get("CLUSTER_DIR"):
        return Path(os.environ["CLUSTER_DIR"])
    return Path(kubeconfig()).resolve().parent


def pid_of(component: str) -> int:
    return int((cluster_dir() / "pids" / f"{component}.pid").read_text())


def _lib(script: str) -> None:
    """Run a line of bash with hack/lib.sh sourced, for the cluster folder under test."""
    subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(REPO / 'hack/lib.sh'))}; {script}"],
        env={**os.environ, "CLUSTER_DIR": str(cluster_dir())},
        check=True,
        capture_output=True,
        timeout=60,
    )


class Component:
    """One control-plane process the harness started: its command line is read from /proc
    before it is stopped, so it comes back exactly as cluster-up.sh started it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.argv: list[str] | None = None

    def stop(self) -> None:
        raw = Path(f"/proc/{pid_of(self.name)}/cmdline").read_bytes()
        self.argv = [a.decode() for a in raw.split(b"\0") if a]
        _lib(f"stop {shlex.quote(self.name)}")

    def start(self) -> None:
        assert self.argv, f"{self.name} was not stopped by this harness"
        _lib(f"start {shlex.quote(self.name)} {shlex.join(self.argv)}")

    @contextmanager
    def down(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP then SIGCONT: the process keeps its sockets but answers nothing."""
        pid = pid_of(self.name)
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)
