"""High availability: operator replicas with leader election, exactly one active at a time.

Several operator processes (candidates, as the Deployment's replicas) compete for a Lease in
the test's namespace. Each trial creates gangs, SIGKILLs the leader at a random moment of the
work, and starts a fresh candidate in its place (as the Deployment would). Judged from the
cluster: the Lease changes hands exactly once per kill and only between live candidates; every
group converges with no duplicate or lost pod, nothing the dead leader made recreated or
released twice; each gang is announced at most once (one Admitted event), by the replica that
held the lease at the time; the groups then delete cleanly; and no candidate acted before it
held the lease (its own log). PGO_RELIABILITY_TRIALS trials (default 20).
"""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client
from tests.e2e.cluster import eventually
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import TEST_ENV, OperatorProcess, free_port
from tests.reliability.figures import Trial
from tests.reliability.harness import cluster_dir
from tests.reliability.invariants import Expected, converge, deleted_cleanly
from tests.reliability.trials import CONVERGE_SECONDS, run_trials, trials

LEASE = "podgroup-operator-ha"
# Short, so a trial is quick; the same ratios as the defaults (15/10/2).
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 6, 4, 1
GANGS_PER_TRIAL, MEMBERS = 2, 3
ELECTION_LOGGERS = ("podgroup_operator.runtime.leader", "podgroup_operator.cli")


class Candidate(OperatorProcess):
    """One replica: the operator with --leader-elect, scoped to the test's namespace."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name  # POD_NAME: the lease identity's prefix, the events' reportingInstance
        self.namespace = namespace
        self.health_port = free_port()
        super().__init__(
            cluster_dir() / f"logs/operator-ha-{name}.log",
            args=[
                *("--namespace", namespace, "--leader-elect", f"--leader-elect-lease-namespace={namespace}"),
                f"--leader-elect-lease-name={LEASE}",
                f"--leader-elect-lease-duration={LEASE_DURATION}",
                f"--leader-elect-renew-deadline={RENEW_DEADLINE}",
                f"--leader-elect-retry-period={RETRY_PERIOD}",
                f"--liveness=http://127.0.0.1:{self.health_port}/healthz",
            ],
            # text logs: read back by acted_before_leading
            env={**TEST_ENV, "POD_NAME": name, "PGO_LOG_FORMAT": "text"},
            metrics_port=0,
        )

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")  # one log per candidate run
        super().start()

    def acted_before_leading(self) -> list[str]:
        """Lines of operator work (Kopf, handlers, writes) logged before the lease was held."""
        early = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "acquired lease" in line:
                return []
            match = re.match(r"\S+ \S+ \w+ ([\w.]+):", line)
            logger = match[1] if match else ""
            if logger.startswith(("kopf", "podgroup_operator.")) and logger not in ELECTION_LOGGERS:
                early.append(line)
        return early


def holder_name(identity: str) -> str:
    return identity.rsplit("_", 1)[0]


@dataclass
class LeaseHistory:
    """The Lease as polled from the API server: who held it from when."""

    tenures: list[tuple[str, float]] = field(default_factory=list)  # (identity, first seen)
    transitions: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def holder(self) -> str:
        return self.tenures[-1][0] if self.tenures else ""

    def poll(self, leases: client.CoordinationV1Api, namespace: str) -> None:
        while not self._stop.is_set():
            try:
                spec = leases.read_namespaced_lease(LEASE, namespace).spec
            except client.ApiException:
                spec = None
            if spec is not None:
                self.transitions = spec.lease_transitions or 0
                if spec.holder_identity and spec.holder_identity != self.holder():
                    self.tenures.append((spec.holder_identity, time.time()))
            self._stop.wait(0.1)

    def held_at(self, when: float, slack: float = 1.5) -> set[str]:
        """Who may have held the lease at `when` (event times have one-second resolution)."""
        out = set()
        for i, (identity, since) in enumerate(self.tenures):
            until = self.tenures[i + 1][1] if i + 1 < len(self.tenures) else float("inf")
            if since - slack <= when <= until + slack:
                out.add(holder_name(identity))
        return out


def admitted_events(groups: PodGroups, name: str) -> list[client.CoreV1Event]:
    return [e for e in groups.events(name) if e.reason == "Admitted"]


def announcements(groups: PodGroups, names: list[str], history: LeaseHistory) -> list[str]:
    """Each gang announced at most once (an event is lost, never repeated, when the leader dies
    between the status write and the event), by whoever held the lease then."""
    found = []
    for name in names:
        events = admitted_events(groups, name)
        if len(events) > 1:
            found.append(f"{name}: admission announced {len(events)} times")
        for event in events:
            when = (event.first_timestamp or event.event_time).timestamp()
            if event.reporting_instance not in history.held_at(when):
                found.append(
                    f"{name}: announced by {event.reporting_instance} at {datetime.fromtimestamp(when)}, "
                    f"lease tenures {history.tenures}"
                )
    return found


@pytest.fixture
def ha_namespace(api: client.ApiClient, crd_installed: None) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"ha-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def ha_pool(api: client.ApiClient) -> Iterator[NodePool]:
    pool = NodePool(api, f"ha-{uuid.uuid4().hex[:6]}")
    yield pool
    pool.delete()


def gang(name: str, pool: NodePool) -> dict:
    r = role("w", MEMBERS, cpu="20m", memory="16Mi")
    r["template"]["spec"]["nodeSelector"] = pool.selector
    return podgroup(name, r)


def test_one_active_replica_and_takeover_after_sigkill_redoes_nothing(
    api: client.ApiClient, ha_namespace: str, ha_pool: NodePool
) -> None:
    ha_pool.add(2, cpu="16", pods="250")
    groups = PodGroups(api, ha_namespace)
    history = LeaseHistory()
    poller = threading.Thread(
        target=history.poll, args=(client.CoordinationV1Api(api), ha_namespace), daemon=True
    )
    poller.start()
    started = 0

    def new_candidate() -> Candidate:
        nonlocal started
        started += 1
        c = Candidate(f"replica-{started}", ha_namespace)
        c.start()
        return c

    candidates = [new_candidate(), new_candidate()]
    everyone = list(candidates)
    wanted: list[Expected] = []
    kills = 0
    try:
        eventually(history.holder, timeout=60, what="a first leader")

        def trial(i: int) -> Trial:
            nonlocal kills
            leader_name = holder_name(history.holder())
            leader = next(c for c in candidates if c.name == leader_name)
            names = [f"t{i}-g{j}" for j in range(GANGS_PER_TRIAL)]
            for name in names:
                groups.create(gang(name, ha_pool))
            time.sleep(random.uniform(0, 1.0))  # somewhere in creation, admission or status
            killed_at = time.time()
            leader.kill()
            kills += 1
            # What the dead leader left: these pods must survive as they are (no recreation,
            # no second release) whatever the next leader does.
            at_kill = {p.metadata.name: p for n in names for p in groups.pods(n)}
            candidates.remove(leader)
            replacement = new_candidate()  # the Deployment restarts the pod
            candidates.append(replacement)
            everyone.append(replacement)
            eventually(
                lambda: holder_name(history.holder()) not in ("", leader_name),
                timeout=LEASE_DURATION * 10,
                interval=0.1,
                what="another replica to take the lease",
            )
            takeover = history.tenures[-1][1] - killed_at
            new_leader = holder_name(history.holder())
            current = []
            for n in names:
                members = [f"{n}-w-{k}" for k in range(MEMBERS)]
                current.append(Expected(n, members, kept={m: at_kill[m] for m in members if m in at_kill}))
            seconds, violations = converge(groups, current, CONVERGE_SECONDS)
            converged_after_kill = time.time() - killed_at
            violations += announcements(groups, names, history)
            # Deleted under the new leader: everything goes (and kwok pods stay short-lived).
            violations += deleted_cleanly(groups, names)
            wanted.extend(current)
            return Trial(
                "leader SIGKILLed (2 replicas)",
                i,
                seconds,
                violations,
                {
                    "takeover_seconds": round(takeover, 2),
                    "converged_after_kill_seconds": round(converged_after_kill, 2),
                    "pods_at_kill": len(at_kill),
                    "new_leader": new_leader,
                },
            )

        run_trials("leader SIGKILLed (2 replicas)", trials(), trial)

        # The Lease changed hands exactly once per kill, only between our candidates.
        eventually(lambda: history.transitions == kills, timeout=60, what=f"{kills} lease transitions")
        assert history.transitions == kills
        assert len(history.tenures) == kills + 1, history.tenures
        assert {holder_name(h) for h, _ in history.tenures} <= {c.name for c in everyone}
        lost_events = sum(1 for want in wanted if not admitted_events(groups, want.name))
        assert lost_events <= kills, f"{lost_events} admissions never announced"
        # No candidate did operator work before it held the lease.
        for c in everyone:
            assert c.acted_before_leading() == [], f"{c.name} acted as a follower: {c.log_path}"
        # Nobody exited on its own (a lost lease ends the process): only our kills.
        assert all(c.alive() for c in candidates), [c.name for c in candidates if not c.alive()]
    finally:
        history._stop.set()
        for c in candidates:
            c.stop()
        poller.join(timeout=5)


def test_graceful_stop_releases_the_lease_for_a_fast_handover(
    api: client.ApiClient, ha_namespace: str
) -> None:
    leases = client.CoordinationV1Api(api)
    first, second = Candidate("graceful-1", ha_namespace), Candidate("graceful-2", ha_namespace)
    first.start()
    try:

        def holder() -> str | None:
            try:
                return leases.read_namespaced_lease(LEASE, ha_namespace).spec.holder_identity
            except client.ApiException:
                return None

        assert holder_name(eventually(holder, timeout=60, what="the first leader")) == "graceful-1"
        second.start()
        # The follower answers the liveness/readiness endpoint while it waits.
        eventually(
            lambda: (
                subprocess.run(
                    ["curl", "-sf", f"http://127.0.0.1:{second.health_port}/healthz"], capture_output=True
                ).returncode
                == 0
            ),
            timeout=120,
            what="the follower's health endpoint",
        )
        first.stop()
        assert first.returncode() == 0
        stopped_at = time.time()
        # Released: a follower does not wait out the lease duration, it takes over on its retry.
        lease = leases.read_namespaced_lease(LEASE, ha_namespace)
        assert holder_name(lease.spec.holder_identity or "graceful-2") == "graceful-2"
        assert lease.spec.lease_duration_seconds in (1, LEASE_DURATION)
        eventually(
            lambda: holder_name(holder() or "") == "graceful-2",
            timeout=120,
            interval=0.1,
            what="the follower to take over",
        )
        handover = time.time() - stopped_at
        print(f"\ngraceful handover: {handover:.2f}s after the leader exited (lease {LEASE_DURATION}s)")
        assert second.alive()
        assert "released lease" in Path(first.log_path).read_text()
    finally:
        first.stop()
        second.stop()


def test_a_follower_stops_on_sigterm_without_taking_the_lease(
    api: client.ApiClient, ha_namespace: str
) -> None:
    """A container's PID 1 ignores SIGTERM it has no handler for: a follower must handle it
    itself, or a Deployment stopping both replicas leaves it to take the released lease."""
    leases = client.CoordinationV1Api(api)
    leader, follower = Candidate("sigterm-1", ha_namespace), Candidate("sigterm-2", ha_namespace)
    leader.start()
    try:
        eventually(
            lambda: "acquired lease" in leader.log_path.read_text(errors="replace"),
            timeout=60,
            what="the first leader",
        )
        follower.start()
        eventually(
            lambda: "waiting for lease" in follower.log_path.read_text(errors="replace"),
            timeout=60,
            what="the follower to wait",
        )
        follower.stop()  # SIGTERM
        assert follower.returncode() == 0
        assert "stopped before leading" in follower.log_path.read_text(errors="replace")
        holder = leases.read_namespaced_lease(LEASE, ha_namespace).spec.holder_identity
        assert holder_name(holder or "") == "sigterm-1"
    finally:
        follower.stop()
        leader.stop()
