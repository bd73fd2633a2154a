"""bench/restart: in-place group restart against recreating the group, in the same run.

A 4-pod group on the real node; one container of one member fails (it exits 134 when told,
through `kubectl exec ... kill -USR1 1`). Measures the time from the failure until every member
is Ready again, with the failure policy RestartGroupInPlace and with RecreateGroup, alternating
over several rounds; prints the medians, their ratio, and the pod bindings each restart caused.
Needs the local cluster with its real node (make cluster-up) and no other operator running.

    python -m bench.restart [--rounds 3] [--members 4]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import uuid

from kubernetes import client

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


def one_round(core: client.CoreV1Api, ns: str, name: str, members: int, in_place: bool) -> tuple[float, int]:
    before = {p.metadata.uid: p for p in pods(core, ns, name)}
    target = sorted(before.values(), key=lambda p: p.metadata.name)[0].metadata.name
    generation = {p.metadata.annotations.get("podgroup.dev/restart-generation", "0") for p in before.values()}
    fail_member(ns, target)

    def recovered() -> bool:
        now = pods(core, ns, name)
        if not all_ready(now, members):
            return False
        if in_place:  # every member moved to the next restart generation, same pods
            gens = {p.metadata.annotations.get("podgroup.dev/restart-generation", "0") for p in now}
            return gens != generation and len(gens) == 1 and {p.metadata.uid for p in now} == set(before)
        return not ({p.metadata.uid for p in now} & set(before))  # every member replaced

    elapsed = wait_until(recovered, 180, interval=0.1, what=f"{name} back")
    new_bindings = sum(1 for p in pods(core, ns, name) if p.metadata.uid not in before)
    return elapsed, new_bindings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    api_client = api()
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"bench-restart-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    op = MeasuredOperator(metrics_port=18081)
    results: dict[str, list[float]] = {"RestartGroupInPlace": [], "RecreateGroup": []}
    bindings: dict[str, int] = {"RestartGroupInPlace": 0, "RecreateGroup": 0}
    try:
        for action, name in (("RestartGroupInPlace", "inplace"), ("RecreateGroup", "recreate")):
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, group(name, args.members, action)
            )
        for name in ("inplace", "recreate"):
            wait_until(lambda n=name: all_ready(pods(core, ns, n), args.members), 180, what=f"{name} ready")
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            for action, name in (("RestartGroupInPlace", "inplace"), ("RecreateGroup", "recreate")):
                elapsed, new = one_round(core, ns, name, args.members, action == "RestartGroupInPlace")
                results[action].append(elapsed)
                bindings[action] += new
    finally:
        op.stop()
        core.delete_namespace(ns)
    in_place, recreate = (statistics.median(results[a]) for a in ("RestartGroupInPlace", "RecreateGroup"))
    print(f"bench/restart: {args.members} members on the real node, {args.rounds} rounds each")
    for action, times in results.items():
        print(
            f"  {action:20s} median {statistics.median(times):6.2f} s  runs {[round(t, 2) for t in times]}  "
            f"new pod bindings: {bindings[action]}"
        )
    print(
        f"  ratio recreate / in place: {recreate / in_place:.1f}x   (goal >= 3x; in place binds no new pod)"
    )


if __name__ == "__main__":
    main()
