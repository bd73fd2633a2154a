"""Real distributed programs on the real node (examples/etcd-cluster.yaml,
examples/rank-rendezvous.yaml): their images swapped for the harness's local ones, and what the
tests (and bench/networking.py) ask them from inside their containers."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.e2e.cluster import kubectl, versions
from tests.e2e.realnode import ON_REAL_NODE, container_cgroup, name_restart_images

ETCD_IMAGE = f"registry.local/etcd:{versions()['ETCD_VERSION']}"
RENDEZVOUS_IMAGE = "registry.local/rendezvous:1.0"
# The upstream images the examples name, and the local images of the same programs.
LOCAL_IMAGES = {
    f"gcr.io/etcd-development/etcd:{versions()['ETCD_VERSION']}": ETCD_IMAGE,
    RENDEZVOUS_IMAGE: RENDEZVOUS_IMAGE,
}


def on_real_node(body: dict[str, Any]) -> dict[str, Any]:
    """The example as the local cluster can run it: placed on real-0, local images, never pulled."""
    body = copy.deepcopy(body)
    for role in body["spec"]["roles"]:
        spec = role["template"]["spec"]
        spec.update(copy.deepcopy(ON_REAL_NODE))
        for container in spec["containers"]:
            container["image"] = LOCAL_IMAGES[container["image"]]
            container["imagePullPolicy"] = "Never"
        name_restart_images(role["template"])
    return body


def exec_in(namespace: str, pod: str, *command: str, check: bool = True) -> str:
    return kubectl("exec", "-n", namespace, pod, "--", *command, check=check).stdout


def kill_container(pod: client.V1Pod, container: str) -> list[int]:
    """SIGKILL every process of one container, from the host (as a crash or an OOM kill would
    end it; a container's PID 1 ignores signals sent from inside)."""
    status = next(c for c in pod.status.container_statuses if c.name == container)
    procs = Path(container_cgroup("memory", pod, status.container_id)) / "cgroup.procs"
    pids = [int(p) for p in procs.read_text().split()]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def rendezvous(namespace: str, pod: str) -> dict[str, str] | None:
    """What a rank reports: {session, world, rank} while the rendezvous is complete, else None."""
    out = exec_in(namespace, pod, "cat", "/tmp/rendezvous", check=False).strip()
    if not out.startswith("session="):
        return None
    return dict(field.split("=", 1) for field in out.split())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def etcd(namespace: str, pod: str, path: str, body: dict[str, Any], host: str = "localhost") -> Any:
    """A call to etcd's JSON gateway (v3 API) from inside a member, with busybox wget."""
    out = exec_in(
        namespace,
        pod,
        "wget",
        "-qO-",
        "--header",
        "Content-Type: application/json",
        "--post-data",
        json.dumps(body),
        f"http://{host}:2379{path}",
    )
    return json.loads(out)


def etcd_put(namespace: str, pod: str, key: str, value: str) -> None:
    etcd(namespace, pod, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})


def etcd_get(namespace: str, pod: str, key: str, host: str = "localhost") -> str | None:
    kvs = etcd(namespace, pod, "/v3/kv/range", {"key": _b64(key)}, host).get("kvs") or []
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def etcd_members(namespace: str, pod: str) -> dict[str, list[str]]:
    """Member name -> its peer URLs, as the cluster itself lists them."""
    members = etcd(namespace, pod, "/v3/cluster/member/list", {})["members"]
    return {m.get("name", ""): m.get("peerURLs", []) for m in members}


def etcd_healthy(namespace: str, pod: str, host: str) -> bool:
    out = exec_in(namespace, pod, "wget", "-qO-", f"http://{host}:2379/health", check=False)
    return '"health":"true"' in out.replace(" ", "")
