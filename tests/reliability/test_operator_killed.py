"""The operator SIGKILLed at a random moment during gang admission (kwok nodes), an in-place
group restart and an in-place resize (both on the real node), then started again."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.e2e.cluster import eventually
from tests.e2e.conftest import real_node  # noqa: F401  shared fixture
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup
from tests.e2e.test_failure_policy import FAIL_ONCE, real_role, restarts_of
from tests.e2e.test_resize import resize, sized_role
from tests.reliability.figures import Trial
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.operator import ScopedOperator
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials
from tests.reliability.workload import by_group, create_gangs, members

GANGS_PER_TRIAL, GANG_SIZE = 6, 3


@pytest.fixture(scope="module")
def pool(api: client.ApiClient) -> Iterator[NodePool]:
    nodes = NodePool(api, f"rel-{uuid.uuid4().hex[:6]}")
    yield nodes
    nodes.delete()


def kill_and_restart(operator: ScopedOperator) -> None:
    operator.kill()
    operator.start()


def test_operator_killed_during_gang_admission(
    groups: PodGroups, operator: ScopedOperator, pool: NodePool
) -> None:
    pool.add(4, cpu="8")  # room for all gangs of a trial at once: every gang must end admitted

    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        names = [f"a{i}-{j}" for j in range(GANGS_PER_TRIAL)]
        create_gangs(groups, pool, names, GANG_SIZE)
        delay = random.uniform(0, 1.5)  # most kills land while gangs are being created or released
        time.sleep(delay)
        before = by_group(groups, names)
        kill_and_restart(operator)
        wanted = [Expected(n, members(n, GANG_SIZE), kept=before[n]) for n in names]
        seconds, violations = converge(groups, wanted, CONVERGE_SECONDS)
        operator.assert_recovered()
        violations += deleted_cleanly(groups, names)
        existing = sum(len(p) for p in before.values())
        released = sum(
            1 for p in before.values() for pod in p.values() if not any(pod.spec.scheduling_gates or [])
        )
        detail = {"kill_after_s": round(delay, 2), "pods_at_kill": existing, "released_at_kill": released}
        return Trial("operator SIGKILL: gang admission", i, seconds, violations, detail)

    run_trials("operator SIGKILL: gang admission", trials(), trial)


def test_operator_killed_during_in_place_restart(
    groups: PodGroups,
    operator: ScopedOperator,
    real_node: str,  # noqa: F811
) -> None:
    policy = {
        "rules": [
            {
                "action": "RestartGroupInPlace",
                "onExitCodes": {"containerName": "main", "operator": "In", "values": [134]},
            }
        ]
    }

    def healthy_restarted_once(pods: list[client.V1Pod]) -> list[str]:
        # Member 0 failed by itself; the others were restarted by the operator: exactly once.
        return [
            f"{p.metadata.name}: {restarts_of(p)} restarts, want 1" for p in pods[1:] if restarts_of(p) != 1
        ]

    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        name = f"r{i}"
        groups.create(podgroup(name, real_role("w", 2, FAIL_ONCE), failurePolicy=policy))
        eventually(
            lambda: (ps := groups.pods(name)) and len(ps) == 2 and all(p.status.pod_ip for p in ps),
            timeout=120,
            interval=0.2,
            what="2 pods with IPs",
        )
        # Member 0 exits 134 two seconds after it starts: the kill lands before, while or after
        # the operator acts on it.
        delay = random.uniform(0, 6)
        time.sleep(delay)
        before = by_group(groups, [name])[name]
        generation_at_kill = (groups.get(name).get("status") or {}).get("restartGeneration") or 0
        kill_and_restart(operator)
        want = Expected(
            name,
            members(name, 2),
            restart_generation=1,
            restarts=1,
            kept=before,
            check=healthy_restarted_once,
        )
        seconds, violations = converge(groups, [want], CONVERGE_SECONDS)
        operator.assert_recovered()
        # Announcements, not actions: a second event for the same restart is reported, not failed.
        restart_events = len([e for e in groups.events(name) if e.reason == "RestartGroupInPlace"])
        member0 = restarts_of(groups.pods(name)[0]) if groups.pods(name) else -1
        violations += deleted_cleanly(groups, [name])
        detail = {
            "kill_after_s": round(delay, 2),
            "generation_at_kill": generation_at_kill,
            "member0_restarts": member0,
            "restart_events": restart_events,
        }
        return Trial("operator SIGKILL: in-place restart", i, seconds, violations, detail)

    run_trials("operator SIGKILL: in-place restart", trials(), trial)


def test_operator_killed_during_resize(
    groups: PodGroups,
    operator: ScopedOperator,
    real_node: str,  # noqa: F811
) -> None:
    def shrunk_in_place(pods: list[client.V1Pod]) -> list[str]:
        (pod,) = pods
        cs = pod.status.container_statuses[0]
        found = []
        if not cs.resources or (cs.resources.requests or {}).get("cpu") != "50m":
            found.append(f"{pod.metadata.name}: cpu request {cs.resources and cs.resources.requests}")
        if cs.restart_count != 0:
            found.append(f"{pod.metadata.name}: restarted {cs.restart_count} times by a resize")
        return found

    def trial(i: int) -> Trial:
        operator.wait_ready()  # the fault hits a working operator, not one still starting
        name = f"z{i}"
        groups.create(
            podgroup(
                name,
                sized_role(
                    "exec sleep 3600", {"cpu": "500m", "memory": "32Mi"}, {"cpu": "1", "memory": "64Mi"}
                ),
                resize=resize("Auto", controlledResources=["cpu"], minAllowed={"cpu": "50m"}),
            )
        )
        eventually(
            lambda: (ps := groups.pods(name)) and ps[0].status.phase == "Running",
            timeout=120,
            interval=0.2,
            what="the pod running",
        )
        # The recommender needs ~2 samples over 10 s (TEST_ENV, tests/operator_process.py), then resizes.
        delay = random.uniform(0, 30)
        time.sleep(delay)
        before = by_group(groups, [name])[name]
        resized_at_kill = any(
            (p.metadata.annotations or {}).get("podgroup.dev/resized-at") for p in before.values()
        )
        kill_and_restart(operator)
        want = Expected(name, members(name, 1), kept=before, check=shrunk_in_place)
        seconds, violations = converge(groups, [want], CONVERGE_SECONDS)
        operator.assert_recovered()
        violations += deleted_cleanly(groups, [name])
        detail = {"kill_after_s": round(delay, 2), "resized_at_kill": int(resized_at_kill)}
        return Trial("operator SIGKILL: in-place resize", i, seconds, violations, detail)

    run_trials("operator SIGKILL: in-place resize", trials(), trial)
