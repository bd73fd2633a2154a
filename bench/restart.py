"""bench/restart: in-place group restart against recreating the group, in the same run.

A 4-pod group on the real node; one container of one member fails (it exits 134 when told,
through `kubectl exec ... kill -USR1 1`). Measures the time from the failure until every member
is Ready again, with the failure policy RestartGroupInPlace and with RecreateGroup, alternating
over several rounds; prints the medians, their ratio, and the pod bindings each restart caused.
With --scope pod it compares RestartPodInPlace with RecreatePod instead (one member restarts).

Each round also prints a timeline read from a pod watch (times after the failure signal was
delivered, i.e. after `kubectl exec` returned, as the total is):
exit seen (the kubelet reported the container down), acted (the operator's first pod write
landed: a new restart generation or image, or a deletion), stopped (the last member's old
containers are down or its pod is gone), bound (recreate: the last new pod bound) and ready.
Needs the local cluster with its real node (make cluster-up). Its operator watches only the
bench's own namespace, so other operators on the cluster are left alone.

    python -m bench.restart [--rounds 3] [--members 4] [--scope group|pod] [--native auto|off]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

from bench.common import REPO, MeasuredOperator, api, kubectl_path, wait_until

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"
# Exits 134 on USR1 (the injected failure), 0 on TERM; otherwise waits.
SCRIPT = "trap 'exit 134' USR1; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"


def group(name: str, members: int, action: str) -> dict:
    container = {
        "name": "main",
        "image": "registry.local/tools:1.0",
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", SCRIPT],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
    }
    template = {
        "spec": {
            "nodeSelector": {"podgroup.dev/node-kind": "real"},
            "tolerations": [{"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        }
    }
    policy = {
        "maxRestarts": 100,
        "backoff": {"initialSeconds": 0, "maxSeconds": 0},
        "escalation": {"after": 100, "windowSeconds": 60},
        "rules": [{"action": action, "onExitCodes": {"operator": "In", "values": [134]}}],
    }
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {
            "roles": [{"name": "w", "replicas": members, "template": template}],
            "failurePolicy": policy,
        },
    }


def pods(core: client.CoreV1Api, ns: str, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(ns, label_selector=f"podgroup.dev/name={name}").items


def all_ready(items: list[client.V1Pod], count: int) -> bool:
    return len(items) == count and all(
        p.status.phase == "Running"
        and not p.metadata.deletion_timestamp
        and all(c.ready for c in p.status.container_statuses or [])
        and p.status.container_statuses
        for p in items
    )


def fail_member(ns: str, pod: str) -> None:
    """Signal the member's main process; the exec ends with the container (its status is moot)."""
    kubeconfig = str(REPO / ".cluster/kubeconfig")
    subprocess.run(
        [
            kubectl_path(),
            "--kubeconfig",
            kubeconfig,
            "exec",
            "-n",
            ns,
            pod,
            "-c",
            "main",
            "--",
            "kill",
            "-USR1",
            "1",
        ],
        check=False,
        capture_output=True,
        timeout=30,
    )


@dataclass
class PodWatch:
    """Every pod event of the namespace, with the bench's own receive time (monotonic)."""

    core: client.CoreV1Api
    ns: str
    events: list[tuple[float, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            w = watch.Watch()
            for ev in w.stream(self.core.list_namespaced_pod, self.ns, timeout_seconds=30):
                self.events.append((time.monotonic(), ev["type"], ev["object"]))
                if self._stop.is_set():
                    w.stop()

    def stop(self) -> None:
        self._stop.set()

    def since(self, t0: float, name: str) -> list[tuple[float, str, Any]]:
        return [
            (t - t0, kind, p)
            for t, kind, p in list(self.events)
            if t >= t0 and (p.metadata.labels or {}).get("podgroup.dev/name") == name
        ]


def _down(p: Any) -> bool:
    return any(not (c.state and c.state.running) for c in p.status.container_statuses or [])


def timeline(
    events: list[tuple[float, str, Any]], before: dict[str, Any], target: str, in_place: bool
) -> dict[str, float]:
    """Milestones of one round (seconds after the failure signal), from the watch."""
    out: dict[str, float] = {}
    old = {u: p.metadata.annotations.get("podgroup.dev/restart-generation", "0") for u, p in before.items()}
    images = {u: [c.image for c in p.spec.containers] for u, p in before.items()}
    stopped: dict[str, float] = {}
    bound: dict[str, float] = {}
    for t, kind, p in events:
        uid = p.metadata.uid
        if "exit seen" not in out and p.metadata.name == target and uid in before and _down(p):
            out["exit seen"] = t
        if uid in before:
            acted = (
                p.metadata.deletion_timestamp is not None
                or (p.metadata.annotations or {}).get("podgroup.dev/restart-generation", "0") != old[uid]
                or [c.image for c in p.spec.containers] != images[uid]
            )
            if acted and "acted" not in out:
                out["acted"] = t
            if (acted or p.metadata.name == target) and (_down(p) or kind == "DELETED"):
                stopped.setdefault(uid, t)
        elif p.spec.node_name:
            bound.setdefault(uid, t)
    if len(stopped) == len(before):
        out["stopped"] = max(stopped.values())
    if not in_place and bound:
        out["bound"] = max(bound.values())
    return out


def one_round(
    core: client.CoreV1Api, pw: PodWatch, ns: str, name: str, members: int, in_place: bool
) -> tuple[float, int, dict[str, float]]:
    before = {p.metadata.uid: p for p in pods(core, ns, name)}
    target = sorted(before.values(), key=lambda p: p.metadata.name)[0].metadata.name
    generation = {p.metadata.annotations.get("podgroup.dev/restart-generation", "0") for p in before.values()}
    counts = {
        p.metadata.uid: sum(c.restart_count for c in p.status.container_statuses) for p in before.values()
    }
    fail_member(ns, target)
    t0 = time.monotonic()  # the exec has delivered the signal: the container is exiting now

    def recovered() -> bool:
        now = pods(core, ns, name)
        if not all_ready(now, members):
            return False
        if in_place:  # every member restarted (or the failing one, for a pod restart), same pods
            if {p.metadata.uid for p in now} != set(before):
                return False
            restarted = {
                p.metadata.uid
                for p in now
                if sum(c.restart_count for c in p.status.container_statuses) > counts[p.metadata.uid]
            }
            gens = {p.metadata.annotations.get("podgroup.dev/restart-generation", "0") for p in now}
            if len(before) == 1 or name.endswith("pod"):
                return bool(restarted)
            return gens != generation and len(gens) == 1 and restarted == set(before)
        gone = {p.metadata.uid for p in now} & set(before)
        return len(gone) == (0 if not name.endswith("pod") else members - 1)  # replaced

    wait_until(recovered, 180, interval=0.05, what=f"{name} back")
    elapsed = time.monotonic() - t0
    new_bindings = sum(1 for p in pods(core, ns, name) if p.metadata.uid not in before)
    marks = timeline(pw.since(t0, name), before, target, in_place)
    marks["ready"] = elapsed
    return elapsed, new_bindings, marks


MARKS = ("exit seen", "acted", "stopped", "bound", "ready")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--scope", choices=("group", "pod"), default="group")
    parser.add_argument("--native", choices=("auto", "off"), default="auto", help="PGO_NATIVE_RESTART")
    parser.add_argument("--batch", type=float, default=None, help="PGO_POD_EVENT_BATCH_SECONDS")
    args = parser.parse_args()
    pairs = (
        (("RestartGroupInPlace", "inplace"), ("RecreateGroup", "recreate"))
        if args.scope == "group"
        else (("RestartPodInPlace", "inplace-pod"), ("RecreatePod", "recreate-pod"))
    )
    api_client = api()
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"bench-restart-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    env = {"PGO_NATIVE_RESTART": args.native}
    if args.batch is not None:
        env["PGO_POD_EVENT_BATCH_SECONDS"] = str(args.batch)
    op = MeasuredOperator(18081, env, namespace=ns)
    pw = PodWatch(core, ns)
    results: dict[str, list[float]] = {a: [] for a, _ in pairs}
    bindings: dict[str, int] = {a: 0 for a, _ in pairs}
    rounds: dict[str, list[dict[str, float]]] = {a: [] for a, _ in pairs}
    try:
        for action, name in pairs:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, group(name, args.members, action)
            )
        for _, name in pairs:
            wait_until(lambda n=name: all_ready(pods(core, ns, n), args.members), 180, what=f"{name} ready")
        time.sleep(2)  # let the last status writes settle
        # One warm-up round each, not counted: in its first round the failing container is
        # restarted by the kubelet at once (no crash-loop backoff yet), and that restart can read
        # as "back" before the operator's restart of the pod has landed.
        for round_ in range(args.rounds + 1):  # alternate, so both see the same machine load
            for action, name in pairs:
                elapsed, new, marks = one_round(core, pw, ns, name, args.members, action == pairs[0][0])
                time.sleep(1)  # the kubelet's status of the last round settles
                if round_ == 0:
                    continue
                results[action].append(elapsed)
                bindings[action] += new
                rounds[action].append(marks)
    finally:
        pw.stop()
        op.stop()
        core.delete_namespace(ns)
    (a_in, _), (a_re, _) = pairs
    in_place, recreate = statistics.median(results[a_in]), statistics.median(results[a_re])
    print(
        f"bench/restart: {args.members} members on the real node, {args.rounds} rounds each (+1 warm-up), "
        f"scope {args.scope}, PGO_NATIVE_RESTART={args.native}"
    )
    for action, times in results.items():
        print(
            f"  {action:20s} median {statistics.median(times):6.2f} s  runs {[round(t, 2) for t in times]}  "
            f"new pod bindings: {bindings[action]}"
        )
        for mark in MARKS:
            seen = [r[mark] for r in rounds[action] if mark in r]
            if seen:
                print(
                    f"      {mark:10s} median {statistics.median(seen):5.2f} s  {[round(t, 2) for t in seen]}"
                )
    print(
        f"  ratio recreate / in place: {recreate / in_place:.1f}x   (goal >= 3x; in place binds no new pod)"
    )


if __name__ == "__main__":
    main()
