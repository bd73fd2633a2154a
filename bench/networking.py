"""bench/networking: what in-place restart buys a real distributed program, in one run.

The program is the rank rendezvous of examples/rank-rendezvous.yaml (every rank must be
connected to the leader for the group to be healthy). Four groups of 4 ranks run side by side on
the real node, each with one failure policy: RestartPodInPlace, RestartGroupInPlace, RecreatePod,
RecreateGroup. Each round SIGKILLs one rank's process (rank 2) from the host, then measures the
time until the program is healthy again: every rank ready in one complete rendezvous, the failed
rank (and, for group actions, every rank) restarted or replaced. It prints the medians, each
against RecreateGroup (what LWS and JobSet do), and what each action kept of the failed member:
its emptyDir data, its pod IP, its UID (its name is kept by all four: members are named).

Needs the local cluster with its real node (make cluster-up) and root (the kill is from the
host). Its operator watches only the bench's namespace.

    python -m bench.networking [--rounds 3] [--ranks 4]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client
from tests.e2e.programs import exec_in, kill_container, on_real_node, rendezvous

from bench.common import REPO, MeasuredOperator, api, kubectl_path, wait_until

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"
ACTIONS = {"pod-inplace": "RestartPodInPlace", "group-inplace": "RestartGroupInPlace",
           "pod-recreate": "RecreatePod", "group-recreate": "RecreateGroup"}  # fmt: skip
BASELINE = "RecreateGroup"
VICTIM = 2


def group(name: str, ranks: int, action: str) -> dict[str, Any]:
    body = on_real_node(yaml.safe_load((REPO / "examples/rank-rendezvous.yaml").read_text()))
    body = copy.deepcopy(body)
    body["metadata"]["name"] = name
    body["spec"]["failurePolicy"] = {
        "maxRestarts": 1000,
        "backoff": {"initialSeconds": 0, "maxSeconds": 0},
        "escalation": {"after": 100, "windowSeconds": 60},
        "defaultAction": action,
    }
    role = body["spec"]["roles"][0]
    role["replicas"] = ranks
    spec = role["template"]["spec"]
    spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return body


def members(core: client.CoreV1Api, ns: str, name: str) -> list[client.V1Pod]:
    items = core.list_namespaced_pod(ns, label_selector=f"podgroup.dev/name={name}").items
    return sorted((p for p in items if not p.metadata.deletion_timestamp), key=lambda p: p.metadata.name)


def restarts(pod: client.V1Pod) -> int:
    return sum(c.restart_count for c in pod.status.container_statuses or [])


def ready(pods: list[client.V1Pod], count: int) -> bool:
    return len(pods) == count and all(
        p.status.phase == "Running"
        and p.status.container_statuses
        and all(c.ready for c in p.status.container_statuses)
        for p in pods
    )


@dataclass
class Round:
    seconds: float
    data_kept: bool
    ip_kept: bool
    uid_kept: bool


def running(pod: client.V1Pod) -> bool:
    return bool(pod.status.container_statuses and pod.status.container_statuses[0].state.running)


class Landed:
    """Whether the operator's action on a member has taken effect, not only the kubelet's own
    restart of the killed container (restartPolicy Always restarts it at once, and the operator's
    restart of the pod may follow): recreated (a new UID), or restarted in place by the
    operator's image switch, i.e. a container started after the switch was first seen."""

    def __init__(self, before: client.V1Pod, recreate: bool) -> None:
        self.uid, self.image, self.recreate = before.metadata.uid, before.spec.containers[0].image, recreate
        self.at_switch: tuple[int, bool] | None = None

    def __call__(self, pod: client.V1Pod) -> bool:
        if self.recreate:
            return pod.metadata.uid != self.uid
        if pod.spec.containers[0].image == self.image:
            return False
        if self.at_switch is None:
            self.at_switch = (restarts(pod), running(pod))
        count, was_running = self.at_switch
        return running(pod) and (restarts(pod) > count or not was_running)


def one_round(core: client.CoreV1Api, ns: str, name: str, ranks: int, action: str) -> Round:
    before = members(core, ns, name)
    victim = before[VICTIM]
    exec_in(ns, victim.metadata.name, "sh", "-c", "echo kept > /data/marker")
    recreate, group_wide = action.startswith("Recreate"), "Group" in action
    landed = {
        p.metadata.name: Landed(p, recreate)
        for p in before
        if group_wide or p.metadata.name == victim.metadata.name
    }

    def healthy() -> bool:
        pods = members(core, ns, name)
        if not ready(pods, ranks):
            return False
        by_name = {p.metadata.name: p for p in pods}
        if not all(check(by_name[n]) for n, check in landed.items() if n in by_name):
            return False
        states = [rendezvous(ns, p.metadata.name) for p in pods]
        return all(states) and len({s["session"] for s in states if s}) == 1

    start = time.monotonic()
    kill_container(victim, "rank")
    wait_until(healthy, 300, interval=0.2, what=f"{name} healthy again")
    seconds = time.monotonic() - start
    after = members(core, ns, name)[VICTIM]
    data = exec_in(ns, after.metadata.name, "cat", "/data/marker", check=False).strip() == "kept"
    return Round(
        seconds, data, after.status.pod_ip == victim.status.pod_ip, after.metadata.uid == victim.metadata.uid
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=4)
    args = parser.parse_args()
    # The CRD, as users install it (the e2e tests install it for themselves; this may run alone).
    kubectl = [kubectl_path(), "--kubeconfig", str(REPO / ".cluster/kubeconfig")]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True)
    extensions = client.ApiextensionsV1Api(api())

    def established() -> bool:
        crd = extensions.read_custom_resource_definition("podgroups.podgroup.dev")
        return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

    wait_until(established, 60, what="the CRD established")
    api_client = api()
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"bench-net-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    op = MeasuredOperator(18083, {}, namespace=ns, log_name="operator-bench-networking")
    results: dict[str, list[Round]] = {a: [] for a in ACTIONS.values()}
    try:
        for name, action in ACTIONS.items():
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, group(name, args.ranks, action)
            )
        try:
            for name in ACTIONS:
                wait_until(lambda n=name: ready(members(core, ns, n), args.ranks), 180, what=f"{name} ready")
        except TimeoutError:
            print(subprocess.run([*kubectl, "get", "pg,pods", "-n", ns, "-o", "wide"], text=True,
                                 capture_output=True).stdout)  # fmt: skip
            raise
        time.sleep(2)
        for _ in range(args.rounds):  # alternate, so every action sees the same machine load
            for name, action in ACTIONS.items():
                results[action].append(one_round(core, ns, name, args.ranks, action))
                time.sleep(1)
    finally:
        op.stop()
        core.delete_namespace(ns)
    base = statistics.median(r.seconds for r in results[BASELINE])
    print(
        f"bench/networking: rank rendezvous, {args.ranks} ranks on the real node, rank {VICTIM} SIGKILLed, "
        f"{args.rounds} rounds each; time from the kill until every rank is in one complete rendezvous"
    )
    for action, rounds in results.items():
        median = statistics.median(r.seconds for r in rounds)
        kept = ", ".join(
            f"{what} {'kept' if all(getattr(r, attr) for r in rounds) else 'lost'}"
            for what, attr in (("emptyDir data", "data_kept"), ("IP", "ip_kept"), ("UID", "uid_kept"))
        )
        print(
            f"  {action:20s} median {median:6.2f} s  x{median / base:4.2f} of {BASELINE}  "
            f"runs {[round(r.seconds, 2) for r in rounds]}  {kept}, name kept"
        )


if __name__ == "__main__":
    main()
