"""What the cluster supports, found by asking it (discovery and server-side dry runs), never by
its version number: a feature gate can be turned off on a release that has it, or on early.

Three answers per feature: True (seen working), False (the server refused or dropped it) and
None (not found out yet: the API server did not answer, or the probe was forbidden). Each user
of a feature says what it does with None, and picks the choice that is always correct.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from podgroup_operator.core.native_restart import RESTART_ALL_FEATURE

RESIZE_SUBRESOURCE = "pods/resize"
# The probe's exit code: any value works; it only has to be one the rules can name.
PROBE_EXIT_CODE = 42


@dataclass(frozen=True)
class ClusterFeatures:
    server_version: str | None = None  # what /version says, for the log only
    # pods/resize (KEP-1287, in-place vertical resize): listed by API discovery of core/v1.
    pods_resize: bool | None = None
    # Container restartPolicy + restartPolicyRules (KEP-5307): kept by a dry-run create.
    container_restart_rules: bool | None = None
    # The rule action RestartAllContainers (KEP-5532): accepted by a dry-run create. Nodes
    # also have to declare it (status.declaredFeatures); that is read per node when planning.
    restart_all_containers: bool | None = None
    # spec.resources on the pod (KEP-2837 pod-level resources): kept by a dry-run create.
    pod_level_resources: bool | None = None

    @property
    def known(self) -> bool:
        return None not in (self.pods_resize, self.container_restart_rules, self.restart_all_containers)


UNKNOWN = ClusterFeatures()
# The answers (every field but the version).
FLAGS = tuple(f.name for f in dataclasses.fields(ClusterFeatures) if f.name != "server_version")


def keep_known(previous: ClusterFeatures, found: ClusterFeatures) -> ClusterFeatures:
    """The new answers, with the previous one wherever the server gave none this time: a probe
    that timed out says nothing new about the cluster."""
    kept = {f: getattr(previous, f) for f in (*FLAGS, "server_version") if getattr(found, f) is None}
    return dataclasses.replace(found, **kept)


def probe_pod(*, rule_action: str | None = None, pod_resources: bool = False) -> dict[str, Any]:
    """A pod created with dryRun=All to see what the API server keeps: a container with the rule
    shape the operator writes into members (core/native_restart.py), or pod-level requests. One
    feature per probe: a server without RestartAllContainers refuses the whole create, and that
    refusal must not be read as an answer about anything else."""
    # Restricted by Pod Security (the operator's own namespace enforces "restricted"): a probe
    # refused by admission would say nothing about the feature.
    container: dict[str, Any] = {
        "name": "probe",
        "image": "registry.invalid/podgroup-feature-probe:never-pulled",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }
    if rule_action is not None:
        container["restartPolicy"] = "Never"
        container["restartPolicyRules"] = [
            {"action": rule_action, "exitCodes": {"operator": "In", "values": [PROBE_EXIT_CODE]}}
        ]
    if pod_resources:
        spec["resources"] = {"requests": {"cpu": "1m", "memory": "1Mi"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "podgroup-feature-probe-", "labels": {"podgroup.dev/probe": "true"}},
        "spec": spec,
    }


def kept_rules(pod: Mapping[str, Any], action: str) -> bool:
    """Whether the stored (here: dry-run) pod still carries a rule with this action: a server
    with the feature off drops the fields instead of refusing them."""
    return any(
        r.get("action") == action
        for c in (pod.get("spec") or {}).get("containers") or []
        for r in c.get("restartPolicyRules") or []
    )


def kept_pod_resources(pod: Mapping[str, Any]) -> bool:
    return bool(((pod.get("spec") or {}).get("resources") or {}).get("requests"))


def serves_resize(core_v1_resources: Iterable[str]) -> bool:
    return RESIZE_SUBRESOURCE in set(core_v1_resources)


def _word(value: bool | None, yes: str, no: str) -> str:
    return "not found out yet" if value is None else (yes if value else no)


def describe(features: ClusterFeatures, *, native_restart: bool, pod_level_resize: bool) -> list[str]:
    """One line per feature: what the cluster gives, and what the operator does with it (the
    start-up log, and again whenever an answer changes)."""
    f = features
    restart_rules = f.container_restart_rules and native_restart
    return [
        f"Kubernetes {f.server_version or '(version not read)'}",
        "pods/resize: "
        + _word(f.pods_resize, "served: Auto resize applies in place", "not served: resize only recommends"),
        "container restart rules (KEP-5307): "
        + _word(f.container_restart_rules, "accepted", "dropped by the API server")
        + (
            "; the kubelet restarts containers on their exit codes"
            if restart_rules
            else "; every restart goes through the operator"
            + ("" if native_restart else " (PGO_NATIVE_RESTART=off)")
        ),
        "RestartAllContainers (KEP-5532): "
        + _word(f.restart_all_containers, "accepted", "refused by the API server")
        + (
            f"; used on nodes that declare {RESTART_ALL_FEATURE}"
            if restart_rules and f.restart_all_containers
            else "; in-place pod restarts are done by the operator"
        ),
        "pod-level resources: "
        + _word(f.pod_level_resources, "accepted", "dropped by the API server")
        + (
            "; resized in place (PGO_POD_LEVEL_RESIZE=true)"
            if pod_level_resize
            else "; sizes only recommended"
        ),
    ]
