"""After the kind stage (`make kind-e2e`, offline path): nothing it started or made is left.
hack/kind-e2e.sh runs this after hack/kind/engine-down.sh with PGO_KIND_TEARDOWN naming a JSON
file: the machine's state before the stage (tests/teardown/kind_state.py), the PIDs and
namespaces the engine had, and the folders it used."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.teardown.kind_state import snapshot


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    path = os.environ.get("PGO_KIND_TEARDOWN")
    if not path:
        pytest.skip("run by hack/kind-e2e.sh after the kind stage (PGO_KIND_TEARDOWN names its record)")
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _processes() -> list[Path]:
    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and _running(int(p.name))]


def test_no_recorded_process_runs(record: dict[str, Any]) -> None:
    assert record["pids"], "the stage recorded no PIDs"
    assert [p for p in record["pids"] if _running(p)] == []


def test_no_process_in_the_engine_namespaces(record: dict[str, Any]) -> None:
    """containerd, its shims and the node's processes: all lived in dockerd's namespaces."""
    left = []
    for proc in _processes():
        for ns in ("net", "mnt"):
            try:
                if os.readlink(proc / "ns" / ns) == record[f"{ns}ns"]:
                    left.append(f"{proc.name} ({ns})")
            except OSError:
                continue
    assert left == []


def test_no_process_names_the_stage_folders(record: dict[str, Any]) -> None:
    left = []
    for proc in _processes():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(folder in cmdline for folder in record["folders"]):
            left.append(f"{proc.name}: {cmdline[:200]}")
    assert left == []


def test_no_mount_under_the_stage_folders(record: dict[str, Any]) -> None:
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    assert [m for m in mounts if any(folder in m for folder in record["folders"])] == []


def test_state_folder_removed(record: dict[str, Any]) -> None:
    assert not Path(record["state"]).exists()


def test_no_cgroup_left(record: dict[str, Any]) -> None:
    assert sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/pgo-kind")) == []


def test_no_engine_interface_on_the_machine(record: dict[str, Any]) -> None:
    """The engine's bridges and veths lived only in its network namespace. (A veth plugged into a
    bridge that was there before belongs to another cluster sharing the machine, e.g. pgo-cni0.)"""
    before = set(record["before"]["interfaces"])

    def foreign(i: str) -> bool:
        master = Path(f"/sys/class/net/{i}/master")
        return master.exists() and master.resolve().name in before

    interfaces = set(os.listdir("/sys/class/net")) - before
    ours = [i for i in interfaces if i == "docker0" or i.startswith("br-")]
    ours += [i for i in interfaces if i.startswith("veth") and not foreign(i)]
    assert ours == []


def test_machine_settings_unchanged(record: dict[str, Any]) -> None:
    before, after = record["before"], snapshot()
    assert after["nft_tables"] == before["nft_tables"]
    assert after["usr_lib_modules"] == before["usr_lib_modules"]
    changed = {
        key: (value, after["sysctl"].get(key))
        for key, value in before["sysctl"].items()
        if after["sysctl"].get(key, value) != value
    }
    assert changed == {}
