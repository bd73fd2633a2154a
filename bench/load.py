"""bench/load: PodGroups created and deleted continuously for minutes, on fake kwok nodes.

Keeps about --live gangs of --size pods alive in one namespace, creating --rate groups a second
and deleting the oldest beyond --live, for --minutes; then lets the last ones converge and
deletes them all. The operator (this working tree, scoped to the namespace) is sampled every
few seconds. Prints: its RSS over time (bounded or growing), how long groups took to converge
(all members bound and Ready, status saying so), groups that never did, pods left behind, and
the API error rate from the operator's own metrics (podgroup_api_requests_total).

    python -m bench.load [--minutes 5] [--live 200] [--rate 2] [--size 3] [--nodes 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kubernetes import client
from tests.operator_process import OperatorProcess

from bench.common import REPO, api, parse_metrics, wait_until

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"


@dataclass
class Sample:
    seconds: float
    rss_mib: float
    live_groups: int
    pods: int


@dataclass
class LoadResult:
    minutes: float
    created: int = 0
    deleted: int = 0
    converged: int = 0
    never_converged: list[str] = field(default_factory=list)  # deleted or ended unconverged
    converge_seconds: list[float] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    pods_left: int = 0
    api_requests: dict[str, float] = field(default_factory=dict)  # "METHOD code" -> count
    operator_exited: int | None = None

    @property
    def api_errors(self) -> float:
        """Answers that are failures: 5xx, 429, no answer. 404 on delete and 409 on create mean
        "already done" to the operator's idempotent writes and are not counted."""
        return sum(v for k, v in self.api_requests.items() if k.split()[1] in ("0", "429") or k[-3] == "5")

    @property
    def api_total(self) -> float:
        return sum(self.api_requests.values())

    def rss_windows(self) -> tuple[float, float, float]:
        """Mean RSS over the second third and the last third of the churn, and the peak."""
        rss = [s.rss_mib for s in self.samples]
        third = max(1, len(rss) // 3)
        return statistics.mean(rss[third : 2 * third] or rss), statistics.mean(rss[-third:]), max(rss)

    def lines(self) -> list[str]:
        conv = sorted(self.converge_seconds)

        def q(p: float) -> float:
            return conv[min(len(conv) - 1, int(p * len(conv)))] if conv else float("nan")

        middle, last, peak = self.rss_windows()
        return [
            f"churn: {self.minutes:.1f} min, {self.created} groups created, {self.deleted} deleted",
            f"converged: {self.converged}/{self.created}; never: {len(self.never_converged)}"
            f" {self.never_converged[:5]}",
            f"convergence s: p50 {q(0.5):.1f}  p90 {q(0.9):.1f}  p99 {q(0.99):.1f}  max {q(1.0):.1f}",
            f"operator RSS MiB: middle third {middle:.0f}, last third {last:.0f}, peak {peak:.0f}"
            f" ({len(self.samples)} samples)",
            f"API requests: {self.api_total:.0f}, errors (5xx/429/no answer): {self.api_errors:.0f}"
            f" = {100 * self.api_errors / max(self.api_total, 1):.2f}%;"
            f" by code: {self._by_code()}",
            f"pods left after deleting everything: {self.pods_left}",
        ]

    def _by_code(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in self.api_requests.items():
            code = key.split()[1]
            out[code] = out.get(code, 0) + value
        return dict(sorted(out.items()))


def group(name: str, pool: str, size: int) -> dict:
    container = {
        "name": "main",
        "image": "registry.local/tools:1.0",
        "command": ["sleep", "3600"],
        "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
    }
    template = {"spec": {"nodeSelector": {"bench-pool": pool}, "containers": [container]}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"roles": [{"name": "w", "replicas": size, "template": template}]},
    }


def make_nodes(core: client.CoreV1Api, pool: str, count: int) -> list[str]:
    names = [f"{pool}-{i}" for i in range(count)]
    capacity = {"cpu": "32", "memory": "64Gi", "pods": "250"}
    for name in names:
        core.create_node(
            client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name,
                    labels={"bench-pool": pool, "kubernetes.io/hostname": name, "type": "kwok"},
                    annotations={"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                ),
                status=client.V1NodeStatus(allocatable=capacity, capacity=capacity),
            )
        )
    return names


def run(minutes: float, live: int, rate: float, size: int, nodes: int) -> LoadResult:
    cluster = api()
    core, custom = client.CoreV1Api(cluster), client.CustomObjectsApi(cluster)
    tag = uuid.uuid4().hex[:6]
    ns, pool = f"bench-load-{tag}", f"load-{tag}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    node_names = make_nodes(core, pool, nodes)
    log_path = Path(os.environ.get("PGO_BENCH_LOG") or REPO / ".cluster/logs/operator-load.log")
    operator = OperatorProcess(log_path, args=["--namespace", ns])
    operator.start()
    result = LoadResult(minutes=minutes)
    created_at: dict[str, float] = {}
    alive: list[str] = []  # oldest first
    try:

        def observe(now: float) -> None:
            listed = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
            for g in listed:
                name = g["metadata"]["name"]
                status = g.get("status") or {}
                if name in created_at and status.get("readyMembers") == f"{size}/{size}":
                    result.converge_seconds.append(now - created_at.pop(name))
                    result.converged += 1

        start = time.monotonic()
        next_sample = start
        n = 0
        while time.monotonic() - start < minutes * 60:
            tick = time.monotonic()
            due = int((tick - start) * rate) + 1 - n
            for _ in range(max(0, due)):
                name = f"g{n}"
                custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, group(name, pool, size))
                created_at[name], n = time.monotonic(), n + 1
                alive.append(name)
                result.created += 1
            while len(alive) > live:
                victim = alive.pop(0)
                if victim in created_at:  # deleted before it converged
                    result.never_converged.append(victim)
                    del created_at[victim]
                custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, victim)
                result.deleted += 1
            observe(time.monotonic())
            if time.monotonic() >= next_sample:
                pods = len(core.list_namespaced_pod(ns).items)
                result.samples.append(
                    Sample(round(time.monotonic() - start, 1), operator.rss_mib(), len(alive), pods)
                )
                next_sample += 5
            if not operator.alive():
                break
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        # The last ones converge, then everything goes.
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: observe(time.monotonic()) or not created_at, 180, interval=1, what="convergence"
            )
        result.never_converged += sorted(created_at)
        metrics = parse_metrics(operator.metrics_text())
        for key, value in metrics.items():
            if key.startswith("podgroup_api_requests_total{"):
                labels = dict(kv.split("=") for kv in key[key.index("{") + 1 : -1].split(","))
                result.api_requests[f"{labels['method'].strip(chr(34))} {labels['code'].strip(chr(34))}"] = (
                    value
                )
        for name in alive:
            custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
            result.deleted += 1
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not core.list_namespaced_pod(ns).items, 180, interval=1, what="pods gone")
        result.pods_left = len(core.list_namespaced_pod(ns).items)
        result.operator_exited = operator.returncode()
    finally:
        operator.stop()
        core.delete_namespace(ns)
        for node in node_names:
            core.delete_node(node)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--live", type=int, default=200, help="groups kept alive at once")
    parser.add_argument("--rate", type=float, default=2, help="groups created per second")
    parser.add_argument("--size", type=int, default=3, help="pods per group")
    parser.add_argument("--nodes", type=int, default=8, help="fake kwok nodes (250 pods each)")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    result = run(args.minutes, args.live, args.rate, args.size, args.nodes)
    for line in result.lines():
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=1))


if __name__ == "__main__":
    main()
