"""The operator as its own child process, as users run it (`python -m podgroup_operator run`):
the one wrapper the e2e, reliability and install-free tests and the benchmarks start it with.

Tests kill and restart it, wait for /readyz, read /metrics; benchmarks also read its CPU time
and memory from /proc. Each start gets a free port for /metrics and /readyz unless one is
given, so several operators can share a machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO
from tests.e2e.cluster import kubeconfig as default_kubeconfig

# What tests run the operator with: short backoffs keep rollback tests quick, and the
# recommender acts on a few samples (metrics-server here scrapes every 10 s). The defaults are
# for production; benchmarks keep them.
TEST_ENV: dict[str, str] = {
    "PGO_GANG_BACKOFF_BASE_SECONDS": "2",
    "PGO_GANG_BACKOFF_MAX_SECONDS": "10",
    "PGO_RESIZE_INTERVAL_SECONDS": "5",
    "PGO_RESIZE_MIN_SAMPLES": "2",
    "PGO_RESIZE_MIN_HISTORY_SECONDS": "10",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    # How long a start may take to become ready: generous, the machine may be busy.
    READY_SECONDS = 180.0

    def __init__(
        self,
        log_path: Path,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        kubeconfig: str | None = None,
        metrics_port: int | None = None,
        python: str = sys.executable,
        cwd: Path = REPO,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        """env: on top of base_env (default: this process's environment); metrics_port: None for a
        free port at each start, 0 for none; cwd: where it runs (a release under test runs away
        from the working tree)."""
        self.log_path = log_path
        self.args = list(args)
        self.env = dict(env or {})
        self.kubeconfig = kubeconfig or default_kubeconfig()
        self.fixed_port = metrics_port
        self.metrics_port = metrics_port or 0
        self.python = python
        self.cwd = cwd
        self.base_env = os.environ if base_env is None else base_env
        self.proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.metrics_port = free_port() if self.fixed_port is None else self.fixed_port
        env = {
            **self.base_env,
            **self.env,
            "KUBECONFIG": self.kubeconfig,
            "PGO_METRICS_PORT": str(self.metrics_port),
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "podgroup_operator", "run", *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.cwd),
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL: no cleanup handlers run, as in a crash or an OOM kill."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as the kubelet stops a pod; SIGKILL after `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # --- what it serves -------------------------------------------------------------------------

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
        """Until /readyz says every watch is established; a process that exits fails at once."""
        deadline = time.monotonic() + (timeout or self.READY_SECONDS)
        while True:
            if not self.alive():
                raise AssertionError(f"the operator exited ({self.returncode()}); log: {self.log_path}")
            answer = self.readyz()
            if answer and answer[0] == 200:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the operator was not ready in time; last /readyz {answer}: {self.log_path}"
                )
            time.sleep(0.5)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    # --- what it costs (benchmarks) -------------------------------------------------------------

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_mib(self) -> float:
        return self._status_mib("VmRSS:")

    def peak_rss_mib(self) -> float:
        return self._status_mib("VmHWM:")

    def _status_mib(self, field: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return float("nan")
