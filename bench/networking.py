"""bench/networking: what in-place restart buys a real distributed program, in one run.

The program is the rank rendezvous of examples/rank-rendezvous.yaml (every rank must be
connected to the leader for the group to be healthy). Four groups of 4 ranks run side by side on
the real node, each with one failure policy: RestartPodInPlace, RestartGroupInPlace, RecreatePod,
RecreateGroup. Each round SIGKILLs one rank's process (rank 2) from the host, then measures the
time until the program is healthy again: every rank ready in one complete rendezvous, and the
action done (recreations: the failed rank, or every rank, has a new UID; in place: the operator
has recorded the action and seen the restart through). Each round starts from a settled group.
It prints the medians, each
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


def operator_recovered(custom: client.CustomObjectsApi, ns: str, name: str, action: str,
                       before: list[dict[str, Any]]) -> bool:  # fmt: skip
    """Whether the operator has recorded a new use of the action and has seen its restart through
    (Restarting False): an in-place restart keeps the UID, so the pods alone cannot tell the
    kubelet's own restart of the killed container from the operator's restart of the pod."""
    status = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name).get("status") or {}
    actions = status.get("actions") or []
    if actions == before or not actions or actions[-1]["action"] != action:
        return False
    restarting = [c for c in status.get("conditions") or [] if c["type"] == "Restarting"]
    return not restarting or restarting[0]["status"] == "False"


def recorded_actions(custom: client.CustomObjectsApi, ns: str, name: str) -> list[dict[str, Any]]:
    status = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name).get("status") or {}
    return list(status.get("actions") or [])


def settled(core: client.CoreV1Api, ns: str, name: str, ranks: int) -> list[client.V1Pod]:
    """The members once the group is healthy and no container has restarted for 2 s: a round
    killed while the startup rendezvous still restarts ranks (exit 2 until every rank is up)
    would kill a container that is being replaced anyway, and measure nothing."""
    last: tuple[Any, ...] | None = None
    stable_since = time.monotonic()

    def quiet() -> bool:
        nonlocal last, stable_since
        pods = members(core, ns, name)
        if not ready(pods, ranks):
            last = None
            return False
        states = [rendezvous(ns, p.metadata.name) for p in pods]
        if not all(states) or len({s["session"] for s in states if s}) != 1:
            last = None
            return False
        seen = tuple((p.metadata.uid, restarts(p)) for p in pods)
        if seen != last:
            last, stable_since = seen, time.monotonic()
        return time.monotonic() - stable_since >= 2

    wait_until(quiet, 300, interval=0.5, what=f"{name} settled")
    return members(core, ns, name)


def one_round(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str, name: str, ranks: int, action: str
) -> Round:
    before = settled(core, ns, name, ranks)
    victim = before[VICTIM]
    exec_in(ns, victim.metadata.name, "sh", "-c", "echo kept > /data/marker")
    recreate, group_wide = action.startswith("Recreate"), "Group" in action
    replaced = {p.metadata.name: p.metadata.uid for p in before if group_wide or p is victim}
    actions_before = recorded_actions(custom, ns, name)

    def healthy() -> bool:
        pods = members(core, ns, name)
        if not ready(pods, ranks):
            return False
        if recreate and any(p.metadata.uid == replaced.get(p.metadata.name) for p in pods):
            return False
        if not recreate and not operator_recovered(custom, ns, name, action, actions_before):
            return False
        states = [rendezvous(ns, p.metadata.name) for p in pods]
        return all(states) and len({s["session"] for s in states if s}) == 1

    start = time.monotonic()
    if not kill_container(victim, "rank"):
        raise RuntimeError(f"{victim.metadata.name}: no process of container rank to kill")
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
                results[action].append(one_round(core, custom, ns, name, args.ranks, action))
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
