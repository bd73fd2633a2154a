"""Upgrade: PodGroups made by the previous release keep working when this one takes over.

The previous release is the commit recorded in hack/versions.env (PREVIOUS_RELEASE_COMMIT; tags do
not travel with a clone), unpacked with `git archive` into a virtualenv cached under
~/.cache/podgroup-operator/releases/. It runs scoped to the
test's namespace and admits gangs on kwok nodes; then it stops and the working tree's operator
starts. Judged from the cluster: every group converges with the same pods (no recreation, no
second release), its status carried over (admission time, condition transition times), no
admission announced twice; an old group still deletes cleanly and a new one still runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.e2e.cluster import REPO, versions
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import TEST_ENV, OperatorProcess
from tests.reliability.harness import cluster_dir
from tests.reliability.invariants import Expected, converge, deleted_cleanly

PREVIOUS = os.environ.get("PGO_PREVIOUS_RELEASE") or versions()["PREVIOUS_RELEASE"]
PREVIOUS_COMMIT = os.environ.get("PGO_PREVIOUS_RELEASE_COMMIT") or versions()["PREVIOUS_RELEASE_COMMIT"]
CACHE = Path(os.environ.get("PGO_CACHE") or Path.home() / ".cache/podgroup-operator")
MEMBERS = 3


def _dependencies(pyproject: str) -> list[str]:
    return sorted(tomllib.loads(pyproject)["project"]["dependencies"])


def previous_release() -> Path:
    """The python of a virtualenv running the previous release's code (built once, cached)."""
    home = CACHE / "releases" / PREVIOUS
    python = home / "venv/bin/python"
    if python.exists():
        return python
    found = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS_COMMIT}^{{commit}}"])
    if found.returncode != 0:
        # Not a skip: a CI that cannot see the previous release must say so in red.
        pytest.fail(f"{PREVIOUS} (commit {PREVIOUS_COMMIT}) is not in {REPO}: a shallow clone?")
    shutil.rmtree(home, ignore_errors=True)
    source = home / "src"
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS_COMMIT], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    old = _dependencies((source / "pyproject.toml").read_text())
    new = _dependencies((REPO / "pyproject.toml").read_text())
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if old == new:
        # The same pinned dependencies: reuse this environment's, offline; the release's own
        # code comes first on the path.
        Path(purelib, "a-previous-release.pth").write_text(f"{source / 'operator'}\n")
        Path(purelib, "z-dependencies.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
    else:
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True, timeout=600)
    return python


def release_operator(python: str, namespace: str, label: str) -> OperatorProcess:
    """One release's operator, scoped to the test's namespace, run away from the working tree
    (nothing of it on the path); POD_NAME is its events' reportingInstance."""
    return OperatorProcess(
        cluster_dir() / f"logs/operator-upgrade-{label}.log",
        args=["--namespace", namespace],
        env={**TEST_ENV, "POD_NAME": f"upgrade-{label}"},
        python=python,
        cwd=cluster_dir(),
    )


@pytest.fixture
def upgrade_namespace(api: client.ApiClient, crd_installed: None) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"upg-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def upgrade_pool(api: client.ApiClient) -> Iterator[NodePool]:
    pool = NodePool(api, f"upg-{uuid.uuid4().hex[:6]}")
    yield pool
    pool.delete()


def gang(name: str, pool: NodePool) -> dict[str, Any]:
    r = role("w", MEMBERS, cpu="20m", memory="16Mi")
    r["template"]["spec"]["nodeSelector"] = pool.selector
    return podgroup(name, r)


def carried(status: dict[str, Any]) -> dict[str, Any]:
    """What must survive the upgrade unchanged: the admission record and transition times."""
    return {
        "admittedTime": (status.get("gang") or {}).get("admittedTime"),
        "conditions": {
            c["type"]: (c["status"], c["lastTransitionTime"]) for c in status.get("conditions") or []
        },
    }


def test_groups_of_the_previous_release_keep_working_after_the_upgrade(
    api: client.ApiClient, upgrade_namespace: str, upgrade_pool: NodePool
) -> None:
    python = previous_release()
    where = subprocess.run(
        [str(python), "-c", "import podgroup_operator; print(podgroup_operator.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(cluster_dir()),
    ).stdout
    assert str(CACHE / "releases" / PREVIOUS) in where, f"the previous release imports {where}"
    upgrade_pool.add(1, cpu="8")
    groups = PodGroups(api, upgrade_namespace)
    names = [f"old-{i}" for i in range(3)]
    wanted = [Expected(n, [f"{n}-w-{k}" for k in range(MEMBERS)]) for n in names]

    old = release_operator(str(python), upgrade_namespace, PREVIOUS)
    old.start()
    try:
        for name in names:
            groups.create(gang(name, upgrade_pool))
        _, violations = converge(groups, wanted, 120)
        assert violations == [], f"{PREVIOUS} did not converge: {violations} (log: {old.log_path})"
        # Admitted by the previous release itself, not by another operator sharing the cluster.
        for name in names:
            reporters = {e.reporting_instance for e in groups.events(name) if e.reason == "Admitted"}
            assert reporters == {old.env["POD_NAME"]}, (
                f"{name} admitted by {reporters}: another operator acts here"
            )
    finally:
        old.stop()
    assert old.returncode() == 0, f"{PREVIOUS} did not stop cleanly"
    before = {n: carried(groups.get(n)["status"]) for n in names}
    for want in wanted:
        want.kept = {p.metadata.name: p for p in groups.pods(want.name)}

    new = release_operator(sys.executable, upgrade_namespace, "current")
    new.start()
    try:
        took_over, violations = converge(groups, wanted, 120)
        assert violations == [], f"after the upgrade: {violations} (log: {new.log_path})"
        for name in names:
            assert carried(groups.get(name)["status"]) == before[name], f"{name}: status not carried over"
            admitted = [e for e in groups.events(name) if e.reason == "Admitted"]
            assert len(admitted) == 1, f"{name}: admission announced {len(admitted)} times"
        # Still managed: an old group deletes cleanly, a new one runs.
        assert deleted_cleanly(groups, [names[0]]) == []
        groups.create(gang("new-0", upgrade_pool))
        fresh = Expected("new-0", [f"new-0-w-{k}" for k in range(MEMBERS)])
        new_group, violations = converge(groups, [*wanted[1:], fresh], 120)
        assert violations == []
        assert new.alive(), f"the new operator exited (log: {new.log_path})"
        print(
            f"\nupgrade {PREVIOUS} -> working tree: {len(names)} groups converged {took_over:.1f}s after "
            f"the new operator started, nothing recreated; a new group converged in {new_group:.1f}s"
        )
    finally:
        new.stop()
