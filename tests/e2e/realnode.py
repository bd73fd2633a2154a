"""Pods for the node with a real kubelet: real-0 of the local cluster (see hack/node/README.md),
or the kind node in the kind stage (hack/kind/cluster-create.sh labels and taints it the same)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.e2e.cluster import REPO

REAL_NODE_LABEL = ("podgroup.dev/node-kind", "real")
TOOLS_IMAGE = "registry.local/tools:1.0"
ON_REAL_NODE: dict[str, Any] = {
    "nodeSelector": dict([REAL_NODE_LABEL]),
    "tolerations": [{"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
}
# Goes over a 32Mi limit. Not at once: a container OOM-killed in its first milliseconds, before the
# runtime watches its cgroup, is reported as Error 137, not OOMKilled (containerd issue 8180;
# measured on the kind node: 4 of 6 such pods said Error, 0 of 6 after the pause).
# dd is exec'd, so its OOM ends the container.
MEMORY_HOG = "sleep 2; exec dd if=/dev/zero of=/dev/null bs=64M count=1"


# Every image of hack/images/build.sh has a second tag, <ref>-alt, naming the same manifest.
SECOND_TAG_SUFFIX = "-alt"
RESTART_IMAGE_ANNOTATION_PREFIX = "podgroup.dev/restart-image."


def name_restart_images(template: dict[str, Any]) -> dict[str, Any]:
    """The template with each container's second tag named for the operator's image switch,
    where the images went in with `kind load` (hack/kind-e2e.sh says so: the node resolves their
    digest under no name, README "On kind"). The local stage names none: its real node reports
    the digest under the spec's repository or the image ID, and those paths are tested there."""
    if os.environ.get("PGO_E2E_IMAGES_KIND_LOADED") != "1":
        return template
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    for container in template["spec"]["containers"]:
        annotations[RESTART_IMAGE_ANNOTATION_PREFIX + container["name"]] = (
            container["image"] + SECOND_TAG_SUFFIX
        )
    return template


def unavailable_reason() -> str | None:
    """Why the harness could not start the real node, if it said so."""
    marker = REPO / ".cluster/node/unavailable"
    return marker.read_text().strip() if marker.exists() else None


# Where each kubelet keeps its pods' cgroups: the local harness's real-0 (cgroupfs driver:
# .../pod<uid>/<container id>), and the kind node (systemd driver, under its dockerd's cgroup
# parent, hack/kind/engine-up.sh: .../*-pod<uid with _>.slice/cri-containerd-<id>.scope).
KUBEPODS_ROOTS = ("pgo-kubelet/kubepods", "pgo-kind")


def container_cgroup(controller: str, pod: Any, container_id: str) -> Path:
    """The container's cgroup v1 folder under the kubelet's own subtree."""
    cid = container_id.split("://", 1)[-1]
    uid = pod.metadata.uid
    patterns = (f"**/pod{uid}/{cid}", f"**/*-pod{uid.replace('-', '_')}.slice/cri-containerd-{cid}.scope")
    roots = [Path("/sys/fs/cgroup") / controller / r for r in KUBEPODS_ROOTS]
    matches = [p for root in roots for pattern in patterns for p in root.glob(pattern) if p.is_dir()]
    if not matches:
        raise AssertionError(
            f"no {controller} cgroup for container {cid} of pod {pod.metadata.name} under {roots}"
        )
    return matches[0]
