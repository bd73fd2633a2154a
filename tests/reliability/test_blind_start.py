"""Never blind: the operator starting while the API server is away, the API server restarting
while the operator starts, and the CRD deleted and created again under a running operator.

Kopf resolves its resources through discovery at start and then only on CRD events; an operator
that met an incomplete discovery once watched no PodGroup for good, its liveness green
(runtime/watches.py). Each trial drives the timing at random across the race: where in the
outage the operator starts, how soon after its start the API server goes away. Judged from the
cluster and the operator's own /readyz: never ready while the API server is away, ready again
after it, groups created before and after reconciled, the same pods kept, no exit of its own.

These stop the cluster's kube-apiserver (by recorded PID) and delete the CRD: run them only on a
cluster nobody else is using (a developer's own, or `make test`'s)."""

from __future__ import annotations

import random
import time

from kubernetes import client
from tests.e2e.cluster import REPO, eventually, kubectl
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup
from tests.reliability.figures import Trial
from tests.reliability.harness import Component
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.operator import ScopedOperator
from tests.reliability.test_control_plane import own_cluster, pool  # noqa: F401  shared fixtures
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials
from tests.reliability.workload import by_group, create_gangs, members, pool_role, retrying

SIZE = 3
CRD = "podgroups.podgroup.dev"


def never_ready(operator: ScopedOperator, seconds: float) -> list[str]:
    """Poll /readyz for `seconds` while the API server is away: it must never say ready."""
    said: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = operator.readyz()
        if answer and answer[0] == 200:
            said.append(f"/readyz said ready while the API server was away: {answer[1]}")
            break
        time.sleep(0.5)
    return said


def stopped_with_gangs(
    i: int,
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,  # noqa: F811
) -> dict[str, dict[str, client.V1Pod]]:
    """Two gangs created under a ready operator, then the operator stopped: their pods as left."""
    operator.wait_ready()
    before = [f"b{i}-{j}" for j in range(2)]
    create_gangs(groups, pool, before, SIZE)
    operator.stop()
    return by_group(groups, before)


def reconciled_after(
    fault: str,
    i: int,
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,  # noqa: F811
    kept: dict[str, dict[str, client.V1Pod]],
) -> Trial:
    """The common end of a trial: ready again, the groups from before (`kept`: their pods when
    the operator stopped) the same pods and converged, a group created now converged too (its
    PodGroup watch is live, not only the pods')."""
    before = list(kept)
    started = time.monotonic()
    violations: list[str] = []
    try:
        operator.wait_ready()
    except AssertionError as exc:
        violations.append(f"never ready again: {exc}")
    ready_after = time.monotonic() - started
    late = f"b{i}-late"
    retrying(lambda: groups.create(podgroup(late, pool_role(pool, SIZE))))
    # kwok pods stay Ready=False once the control plane has been away (test_control_plane.py).
    wanted = [Expected(n, members(n, SIZE), kept=kept[n], ready=False) for n in before]
    wanted.append(Expected(late, members(late, SIZE), ready=False))
    seconds, found = converge(groups, wanted, CONVERGE_SECONDS)
    violations += found
    try:
        operator.assert_recovered()
    except AssertionError as exc:
        violations.append(str(exc))
    violations += deleted_cleanly(groups, [*before, late])
    return Trial(fault, i, seconds, violations, {"ready_after_s": round(ready_after, 1)})


def test_operator_started_while_the_apiserver_is_down(
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,  # noqa: F811
) -> None:
    apiserver = Component("kube-apiserver")
    fault = "operator started while kube-apiserver is down"

    def trial(i: int) -> Trial:
        kept = stopped_with_gangs(i, groups, operator, pool)
        outage = random.uniform(3, 12)
        start_at = random.uniform(0, outage)  # anywhere in the outage, up to its very end
        said: list[str] = []
        with apiserver.down():
            time.sleep(start_at)
            operator.start()
            said = never_ready(operator, outage - start_at)
        outcome = reconciled_after(fault, i, groups, operator, pool, kept)
        outcome.violations[:0] = said
        outcome.detail.update({"outage_s": round(outage, 1), "started_at_s": round(start_at, 1)})
        return outcome

    run_trials(fault, trials(), trial)


def test_apiserver_restarted_while_the_operator_starts(
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,  # noqa: F811
) -> None:
    apiserver = Component("kube-apiserver")
    fault = "kube-apiserver restarted while the operator starts"

    def trial(i: int) -> Trial:
        kept = stopped_with_gangs(i, groups, operator, pool)
        operator.start()
        after = random.uniform(0, 5)  # from the operator's import to its first scans and lists
        time.sleep(after)
        with apiserver.down():
            time.sleep(random.uniform(0, 2))
        outcome = reconciled_after(fault, i, groups, operator, pool, kept)
        outcome.detail["restart_after_start_s"] = round(after, 1)
        return outcome

    run_trials(fault, trials(), trial)


def crd_established(extensions: client.ApiextensionsV1Api) -> bool:
    try:
        crd = extensions.read_custom_resource_definition(CRD)
    except client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])


def crd_gone(extensions: client.ApiextensionsV1Api) -> bool:
    try:
        extensions.read_custom_resource_definition(CRD)
    except client.ApiException as exc:
        return exc.status == 404
    return False


def foreign_groups(api: client.ApiClient, namespace: str) -> list[str]:
    """PodGroups of other namespaces: deleting the CRD deletes every PodGroup, so none may be left."""
    listed = client.CustomObjectsApi(api).list_cluster_custom_object("podgroup.dev", "v1alpha1", "podgroups")
    return [
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in listed["items"]
        if o["metadata"]["namespace"] != namespace
    ]


def test_crd_deleted_and_recreated_under_a_running_operator(
    api: client.ApiClient,
    groups: PodGroups,
    operator: ScopedOperator,
    pool: NodePool,  # noqa: F811
    namespace: str,
) -> None:
    extensions = client.ApiextensionsV1Api(api)
    fault = "CRD deleted and created again"
    # Namespaces of earlier suites may still be going away; this test deletes only its own groups.
    eventually(lambda: not foreign_groups(api, namespace), timeout=300, what="no PodGroup outside this test")

    def trial(i: int) -> Trial:
        operator.wait_ready()
        first = f"c{i}-first"
        create_gangs(groups, pool, [first], SIZE)
        wanted = [Expected(first, members(first, SIZE), ready=False)]
        violations = converge(groups, wanted, CONVERGE_SECONDS)[1]
        violations += deleted_cleanly(groups, [first])
        try:
            kubectl("delete", "crd", CRD, "--wait=false")
            eventually(lambda: crd_gone(extensions), timeout=120, what="the CRD gone")
            not_ready = eventually(
                lambda: (a := operator.readyz()) and a[0] == 503 and CRD in str(a[1]) and a,
                timeout=60,
                what="/readyz to name the missing PodGroup watch",
            )
        finally:
            kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
            eventually(lambda: crd_established(extensions), timeout=120, what="the CRD Established again")
        outcome = reconciled_after(fault, i, groups, operator, pool, {})
        outcome.violations[:0] = violations
        outcome.detail["not_ready_said"] = not_ready[1].get("notReady", {}).get(CRD, "")[:80]
        return outcome

    run_trials(fault, trials(), trial)
