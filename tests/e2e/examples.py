"""The PodGroups in examples/, as e2e tests apply them, and what each must do on a cluster.

The examples pull busybox:1.37 and place their pods anywhere, as users run them. The local
cluster pulls nothing and runs real containers only on its real node, so `on_real_node` swaps
in the harness's busybox image and the real node's placement; nothing else changes."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from kubernetes import client

from tests.e2e.cluster import REPO, eventually
from tests.e2e.podgroups import PodGroups
from tests.e2e.realnode import ON_REAL_NODE, TOOLS_IMAGE, name_restart_images

EXAMPLES = REPO / "examples"


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return body


def on_real_node(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for role in body["spec"]["roles"]:
        spec = role["template"]["spec"]
        spec.update(copy.deepcopy(ON_REAL_NODE))
        for container in spec["containers"]:
            assert container["image"].startswith("busybox:"), "examples use busybox"
            container["image"], container["imagePullPolicy"] = TOOLS_IMAGE, "Never"
        name_restart_images(role["template"])
    return body


def restarts_of(pod: client.V1Pod) -> int:
    return sum(c.restart_count for c in pod.status.container_statuses or [])


def all_ready(pods: list[client.V1Pod], count: int) -> bool:
    return len(pods) == count and all(
        p.status.phase == "Running" and all(c.ready for c in p.status.container_statuses or []) for p in pods
    )


def run_training_gang(groups: PodGroups) -> None:
    """examples/training-gang.yaml end to end: the gang starts, worker 0's simulated crash
    (exit 134) restarts the whole group in place once, and it runs on."""
    groups.create(on_real_node(example("training-gang.yaml")))
    first = eventually(
        lambda: (ps := groups.pods("train")) and all_ready(ps, 3) and ps,
        timeout=120,
        what="the 3 workers of the gang Running",
    )
    status = eventually(
        lambda: (s := groups.get("train").get("status") or {}).get("restartGeneration") == 1 and s,
        timeout=120,
        what="the group restarted in place after worker 0 exited with 134",
    )
    assert status["lastFailure"]["pod"] == "train-worker-0"
    assert status["lastFailure"]["exitCode"] == 134
    assert status["lastFailure"]["action"] == "RestartGroupInPlace"
    after = eventually(
        lambda: (
            (ps := groups.pods("train"))
            and all_ready(ps, 3)
            and all(restarts_of(p) >= 1 for p in ps)
            and (groups.get("train").get("status") or {}).get("phase") == "Running"
            and ps
        ),
        timeout=120,
        what="every worker's container restarted and the group Running again",
    )
    for old, new in zip(first, after, strict=True):
        assert new.metadata.uid == old.metadata.uid, f"{new.metadata.name} was recreated, not restarted"
        assert new.spec.node_name == old.spec.node_name and new.status.pod_ip == old.status.pod_ip
        assert new.metadata.annotations["podgroup.dev/restart-generation"] == "1"
    status = groups.get("train")["status"]
    assert status["restartGeneration"] == 1 and status["restarts"] == 1
    # The event is there; "exactly one restart" is the status's word above (how many events one
    # action posts is tests/e2e/test_failure_policy.py's to pin down).
    reasons = [e.reason for e in groups.events("train")]
    assert "RestartGroupInPlace" in reasons, reasons
