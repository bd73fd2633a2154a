"""bench/gang: gang admission against plain kube-scheduler, in the same run.

100 fake kwok nodes; 100 PodGroups x 8 pods through the operator, against the same 800 pods
created without gates. Prints the ratio of the times from creation to all pods bound, the
operator's CPU seconds and peak RSS, release latency, API writes per gang and per admitted
pod, and the 429s the API server answered. Needs a running local cluster (make cluster-up).

    python -m bench.gang [--nodes 100] [--gangs 100] [--size 8]
"""

from __future__ import annotations

import argparse
import time
import uuid

from kubernetes import client

from bench.common import MeasuredOperator, api, apiserver_429s, histogram_quantile, parallel, wait_until

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"


def pod_spec(pool: str) -> dict:
    return {
        "nodeSelector": {"bench-pool": pool},
        "containers": [
            {
                "name": "main",
                "image": "registry.local/tools:1.0",
                "command": ["sleep", "3600"],
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
            }
        ],
    }


def make_nodes(core: client.CoreV1Api, pool: str, count: int) -> list[str]:
    names = [f"{pool}-{i}" for i in range(count)]
    capacity = {"cpu": "16", "memory": "64Gi", "pods": "110"}

    def create(name: str) -> None:
        core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name,
                    labels={"bench-pool": pool, "kubernetes.io/hostname": name},
                    annotations={"kwok.x-k8s.io/node": "fake"},
                ),
                status=client.V1NodeStatus(allocatable=capacity, capacity=capacity),
            )
        )

    parallel(create, names)
    wait_until(
        lambda: (
            sum(
                any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                for n in core.list_node(label_selector=f"bench-pool={pool}").items
            )
            == count
        ),
        120,
        what="nodes Ready",
    )
    return names


def bound_count(core: client.CoreV1Api, namespace: str) -> int:
    return sum(1 for p in core.list_namespaced_pod(namespace).items if p.spec.node_name)


def run_plain(core: client.CoreV1Api, pool: str, gangs: int, size: int) -> float:
    ns = f"bench-plain-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    bodies = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"g{g}-w-{i}"}, "spec": pod_spec(pool)}
        for g in range(gangs)
        for i in range(size)
    ]
    start = time.monotonic()
    parallel(lambda b: core.create_namespaced_pod(ns, b), bodies)
    wait_until(lambda: bound_count(core, ns) == gangs * size, 600, interval=0.5, what="plain pods bound")
    elapsed = time.monotonic() - start
    core.delete_namespace(ns)
    wait_until(lambda: not core.list_namespaced_pod(ns).items, 300, interval=1, what="plain pods gone")
    return elapsed


def run_operator(
    api_client: client.ApiClient, pool: str, gangs: int, size: int
) -> tuple[float, dict, float, float]:
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"bench-gang-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    op = MeasuredOperator(metrics_port=18080)
    try:
        wait_until(lambda: _metrics_up(op), 60, what="operator metrics endpoint")
        cpu_before = op.cpu_seconds()
        bodies = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "PodGroup",
                "metadata": {"name": f"g{g}"},
                "spec": {"roles": [{"name": "w", "replicas": size, "template": {"spec": pod_spec(pool)}}]},
            }
            for g in range(gangs)
        ]
        start = time.monotonic()
        parallel(lambda b: custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, b), bodies)
        wait_until(lambda: bound_count(core, ns) == gangs * size, 600, interval=0.5, what="gang pods bound")
        elapsed = time.monotonic() - start
        time.sleep(3)  # let the status writes that follow the binding settle before counting
        metrics, cpu, rss = op.metrics(), op.cpu_seconds() - cpu_before, op.peak_rss_mib()
    finally:
        op.stop()
    core.delete_namespace(ns)
    wait_until(lambda: not core.list_namespaced_pod(ns).items, 300, interval=1, what="gang pods gone")
    return elapsed, metrics, cpu, rss


def _metrics_up(op: MeasuredOperator) -> bool:
    try:
        op.metrics()
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--gangs", type=int, default=100)
    parser.add_argument("--size", type=int, default=8)
    args = parser.parse_args()
    api_client = api()
    core = client.CoreV1Api(api_client)
    pool = f"bench-{uuid.uuid4().hex[:6]}"
    nodes = make_nodes(core, pool, args.nodes)
    try:
        throttled_before = apiserver_429s()
        plain = run_plain(core, pool, args.gangs, args.size)
        gang, m, cpu, rss = run_operator(api_client, pool, args.gangs, args.size)
        throttled = apiserver_429s() - throttled_before
    finally:
        parallel(core.delete_node, nodes)

    pods = args.gangs * args.size
    writes = {
        k.split("{", 1)[1].rstrip("}"): v for k, v in m.items() if k.startswith("podgroup_api_writes_total{")
    }
    total = sum(writes.values())
    releases = m.get('podgroup_api_writes_total{resource="pods",verb="patch"}', 0)
    status = m.get('podgroup_api_writes_total{resource="podgroups/status",verb="patch"}', 0)
    print(f"bench/gang: {args.nodes} nodes, {args.gangs} gangs x {args.size} pods ({pods} pods)")
    print(f"  plain kube-scheduler, no gates: {plain:7.2f} s to all bound")
    print(f"  podgroup-operator gangs:        {gang:7.2f} s to all bound")
    print(f"  ratio operator / plain:         {gang / plain:7.2f}   (goal <= 1.5)")
    print(f"  operator CPU: {cpu:.1f} s   peak RSS: {rss:.0f} MiB")
    p99 = histogram_quantile(m, "podgroup_gang_release_seconds", 0.99)
    mean = m.get("podgroup_gang_release_seconds_sum", 0) / max(
        1, m.get("podgroup_gang_release_seconds_count", 1)
    )
    print(
        f"  release latency (fits -> last gate removed): mean {mean * 1000:.0f} ms, "
        f"p99 <= {p99} s (goal p99 <= 1 s)"
    )
    print(f"  API writes: {total:.0f} in all, {total / args.gangs:.1f} per gang: {writes}")
    print(
        f"  release writes per admitted pod: {releases / pods:.2f} (goal <= 1.1), "
        f"status writes per group: {status / args.gangs:.1f}"
    )
    print(f"  HTTP 429 answered by the API server during the run: {throttled:.0f}")


if __name__ == "__main__":
    main()
