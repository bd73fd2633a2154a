"""bench/resize: reaction time of automatic in-place resizing, and in place against recreating.

Each run starts a one-member PodGroup on the real node, idle (100m CPU requested, no CPU limit,
resize mode Auto for CPU), waits for an idle usage sample, then at a random phase of the
metrics scrape switches a busy loop on (`kubectl exec ... touch /tmp/go`; the container records
the switch on the kernel's clock). It measures, from the cluster's own objects:

  (a) load switch -> first sample above request + margin visible in metrics.k8s.io -> the PATCH
      on pods/resize (seen as the new spec requests on the pod, polled every 0.1 s; the
      operator's resized-at annotation agrees to the second);
  (b) PATCH -> the new requests in status.containerStatuses[].resources, against recreating a
      plain pod with the new resources (delete + create a replacement + Ready, as an eviction
      and a ReplicaSet would), in the same run.

The operator runs with its production defaults (resize interval 15 s, 20 samples / 5 min for a
confident target): the first growth comes from the fast path. Prints the distributions next to
the metrics resolution in use and the ratio of (b). A run takes ~30 s.
Needs the local cluster with its real node (make cluster-up).

    python -m bench.resize [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.common import REPO, MeasuredOperator, api, kubectl_path, wait_until

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"
REQUEST_CPU = 0.1
MARGIN = 0.15  # the policy's default safety margin: the fast path's threshold
# Idle until /tmp/go exists; then records the kernel's uptime (the host's clock, same kernel)
# and burns one core.
SCRIPT = "while [ ! -f /tmp/go ]; do sleep 0.1; done; cat /proc/uptime > /tmp/started; exec yes > /dev/null"
ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {"podgroup.dev/node-kind": "real"},
    "tolerations": [{"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
    "terminationGracePeriodSeconds": 1,
}


def container(cpu: str) -> dict[str, Any]:
    return {
        "name": "main",
        "image": "registry.local/tools:1.0",
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", SCRIPT],
        "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
    }


def group(name: str) -> dict[str, Any]:
    policy = {"mode": "Auto", "containers": [{"containerName": "*", "controlledResources": ["cpu"]}]}
    template = {"spec": {**ON_REAL_NODE, "containers": [container(f"{int(REQUEST_CPU * 1000)}m")]}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"roles": [{"name": "w", "replicas": 1, "template": template}], "resize": policy},
    }


def cores(q: str) -> float:
    if q.endswith("n"):
        return int(q[:-1]) / 1e9
    if q.endswith("u"):
        return int(q[:-1]) / 1e6
    if q.endswith("m"):
        return int(q[:-1]) / 1e3
    return float(q)


def parse_time(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def duration(text: str) -> float:
    return float(text[:-1]) if text.endswith("s") and "m" not in text else float("nan")


def kubectl(*args: str) -> str:
    kubeconfig = os.environ.get("KUBECONFIG") or str(REPO / ".cluster/kubeconfig")
    return subprocess.run(
        [kubectl_path(), "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=30
    ).stdout


def pod_metrics(custom: client.CustomObjectsApi, ns: str, pod: str) -> dict[str, Any] | None:
    try:
        return custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods", pod)
    except client.ApiException:
        return None


def ready(p: client.V1Pod | None) -> bool:
    return bool(
        p
        and p.status.phase == "Running"
        and p.status.container_statuses
        and all(c.ready for c in p.status.container_statuses)
    )


def read_pod(core: client.CoreV1Api, ns: str, name: str) -> client.V1Pod | None:
    try:
        return core.read_namespaced_pod(name, ns)
    except client.ApiException:
        return None


def one_run(core: client.CoreV1Api, custom: client.CustomObjectsApi, ns: str, i: int) -> dict[str, float]:
    name = f"r{i}"
    member = f"{name}-w-0"
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, group(name))
    plain = f"plain-{i}"
    core.create_namespaced_pod(
        ns, {"metadata": {"name": plain}, "spec": {**ON_REAL_NODE, "containers": [container("100m")]}}
    )
    wait_until(
        lambda: ready(read_pod(core, ns, member)) and ready(read_pod(core, ns, plain)), 120, what="ready"
    )
    # An idle sample first (metrics-server needs two scrapes of a new container), then a
    # random phase of the scrape window.
    wait_until(lambda: pod_metrics(custom, ns, member) is not None, 90, interval=0.5, what="idle sample")
    first = pod_metrics(custom, ns, member)
    assert first is not None
    resolution = duration(first["window"])
    time.sleep(random.uniform(0, resolution))

    kubectl("exec", "-n", ns, member, "-c", "main", "--", "touch", "/tmp/go")
    cross_visible = cross_sample = patch = applied = float("nan")
    new_cpu = ""
    deadline = time.time() + 90
    while time.time() < deadline and (patch != patch or applied != applied):
        now = time.time()
        if cross_visible != cross_visible:
            m = pod_metrics(custom, ns, member)
            if m and cores(m["containers"][0]["usage"]["cpu"]) > REQUEST_CPU * (1 + MARGIN):
                cross_visible, cross_sample = now, parse_time(m["timestamp"])
        p = read_pod(core, ns, member)
        if p is not None:
            spec_cpu = p.spec.containers[0].resources.requests["cpu"]
            if patch != patch and spec_cpu != "100m":
                patch, new_cpu = now, spec_cpu
            res = p.status.container_statuses[0].resources if p.status.container_statuses else None
            if patch == patch and res and res.requests and res.requests.get("cpu") == new_cpu:
                applied = now
        time.sleep(0.1)
    if patch != patch:
        raise TimeoutError(f"{member}: no resize within 90 s")
    # The switch, on the host's clock: the container's uptime at the switch, mapped to wall time.
    started = float(kubectl("exec", "-n", ns, member, "-c", "main", "--", "cat", "/tmp/started").split()[0])
    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    switch = time.time() - host_uptime + started
    annotations = read_pod(core, ns, member).metadata.annotations or {}  # type: ignore[union-attr]
    stamped = annotations.get("podgroup.dev/resized-at")

    # Recreating instead: delete the plain pod and create its replacement with the new size
    # (the group goes first, so the replacement has the room the member had).
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
    wait_until(lambda: read_pod(core, ns, member) is None, 120, what="member gone")
    t0 = time.time()
    core.delete_namespaced_pod(plain, ns)
    core.create_namespaced_pod(
        ns,
        {"metadata": {"name": f"{plain}-new"}, "spec": {**ON_REAL_NODE, "containers": [container(new_cpu)]}},
    )
    wait_until(
        lambda: ready(read_pod(core, ns, f"{plain}-new")), 120, interval=0.05, what="replacement ready"
    )
    recreate = time.time() - t0

    core.delete_namespaced_pod(f"{plain}-new", ns)
    wait_until(lambda: not core.list_namespaced_pod(ns).items, 120, what="pods gone")
    return {
        "resolution": resolution,
        "switch_to_visible": cross_visible - switch,
        "sample_to_visible": cross_visible - cross_sample,
        "sample_to_patch": patch - cross_sample,
        "visible_to_patch": patch - cross_visible,
        "switch_to_patch": patch - switch,
        "annotation_skew": (parse_time(stamped) - patch) if stamped else float("nan"),
        "patch_to_applied": applied - patch,
        "recreate": recreate,
        "new_cpu": cores(new_cpu),
    }


def spread(values: list[float]) -> str:
    v = sorted(x for x in values if x == x)
    if not v:
        return "n/a"
    p90 = v[min(len(v) - 1, round(0.9 * (len(v) - 1)))]
    return f"min {v[0]:5.2f}  median {statistics.median(v):5.2f}  p90 {p90:5.2f}  max {v[-1]:5.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    api_client = api()
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    ns = f"bench-resize-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    wait_until(lambda: bool(core.list_namespaced_service_account(ns).items), 60, what="service account")
    op = MeasuredOperator(
        18082,
        namespace=ns,
        log_name="operator-bench-resize",
        # The bench measures the defaults, not the e2e suite's faster resize settings.
        base_env={k: v for k, v in os.environ.items() if not k.startswith("PGO_RESIZE_")},
    )
    runs = []
    try:
        for i in range(args.runs):
            runs.append(one_run(core, custom, ns, i))
            r = runs[-1]
            print(
                f"  run {i}: switch->visible {r['switch_to_visible']:5.2f}"
                f"  sample->PATCH {r['sample_to_patch']:5.2f}"
                f"  switch->PATCH {r['switch_to_patch']:5.2f}  PATCH->applied {r['patch_to_applied']:5.2f}"
                f"  recreate {r['recreate']:5.2f} s  (cpu -> {r['new_cpu']:.3f})",
                flush=True,
            )
    finally:
        op.stop()
        core.delete_namespace(ns)

    def col(key: str) -> list[float]:
        return [r[key] for r in runs]

    resolution = statistics.median(col("resolution"))
    print(f"bench/resize: {args.runs} runs on the real node; metrics resolution in use {resolution:.1f} s")
    print(f"  (a) load switch -> crossing visible in metrics.k8s.io: {spread(col('switch_to_visible'))}")
    print(f"      crossing sample's time -> visible in the API:     {spread(col('sample_to_visible'))}")
    print(f"      crossing sample's time -> PATCH:                  {spread(col('sample_to_patch'))}")
    print(f"      crossing visible -> PATCH:                        {spread(col('visible_to_patch'))}")
    print(f"      load switch -> PATCH:                             {spread(col('switch_to_patch'))}")
    worst = max(col("sample_to_patch"))
    print(
        f"      goal: crossing -> PATCH <= 2 x resolution = {2 * resolution:.0f} s: "
        f"{'met' if worst <= 2 * resolution else 'NOT met'} (worst {worst:.2f} s)"
    )
    print(f"      resized-at annotation - observed PATCH (whole seconds): {spread(col('annotation_skew'))}")
    in_place, recreate = statistics.median(col("patch_to_applied")), statistics.median(col("recreate"))
    print(f"  (b) PATCH -> new requests in containerStatuses:     {spread(col('patch_to_applied'))}")
    print(f"      recreate (delete + create + Ready):               {spread(col('recreate'))}")
    print(f"      ratio recreate / in place (medians): {recreate / in_place:.1f}x")


if __name__ == "__main__":
    main()
