"""After `make cluster-down`: no process, mount, interface, cgroup or firewall rule of the local
cluster is left on the machine. hack/test.sh runs this right after the cluster is stopped,
with PGO_TEARDOWN_PIDS naming a file of the PIDs the harness had recorded."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", REPO / ".cluster"))


@pytest.fixture(scope="module")
def recorded_pids() -> list[int]:
    path = os.environ.get("PGO_TEARDOWN_PIDS")
    if not path:
        pytest.skip("run by hack/test.sh after cluster-down (PGO_TEARDOWN_PIDS names the recorded PIDs)")
    return [int(x) for x in Path(path).read_text().split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_no_process_of_the_cluster_runs(recorded_pids: list[int]) -> None:
    assert recorded_pids, "the harness recorded no PIDs"
    assert [p for p in recorded_pids if _running(p)] == []


def test_no_process_names_the_cluster_folder(recorded_pids: list[int]) -> None:
    """Catches what no PID file names, e.g. containerd's shims."""
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or not _running(int(proc.name)):
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(CLUSTER_DIR) in cmdline:
            left.append(f"{proc.name}: {cmdline[:200]}")
    assert left == []


def test_no_mount_under_the_cluster_folder(recorded_pids: list[int]) -> None:
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    assert [m for m in mounts if str(CLUSTER_DIR) in m] == []


def test_cluster_folder_removed(recorded_pids: list[int]) -> None:
    assert not CLUSTER_DIR.exists()


def test_no_network_interface_left(recorded_pids: list[int]) -> None:
    interfaces = os.listdir("/sys/class/net")
    assert "pgo-cni0" not in interfaces
    assert [i for i in interfaces if i.startswith("veth")] == []


def test_no_cgroup_left(recorded_pids: list[int]) -> None:
    assert sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/pgo-kubelet")) == []


def test_no_firewall_rule_left(recorded_pids: list[int]) -> None:
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            continue
        rules = subprocess.run([tool], capture_output=True, text=True, check=False).stdout
        assert [r for r in rules.splitlines() if "pgo" in r or "10.244.0." in r or "CNI-" in r] == []


def test_no_cluster_dns_server_left(recorded_pids: list[int]) -> None:
    """CoreDNS (hack/node/coredns.sh) served the pods on the node address, port 53."""
    if shutil.which("ss") is None:
        pytest.skip("no ss")
    sockets = subprocess.run(["ss", "-Hlnu"], capture_output=True, text=True, check=False).stdout
    assert [s for s in sockets.splitlines() if "10.244.0.1:53 " in s] == []
