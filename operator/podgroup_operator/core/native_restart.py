"""The kubelet's own restart rules (KEP-5307 ContainerRestartRules, KEP-5532 RestartAllContainers)
for the part of a failure policy they can express, written into the member pods.

A container rule restarts on an exit code without a round trip through the operator. Only
the leading onExitCodes rules whose action the kubelet knows (RestartContainer -> Restart,
RestartPodInPlace -> RestartAllContainers) are translated: a native rule placed after a rule
the kubelet cannot express could take a failure that earlier rule owns (first match wins), so
translation stops at the first such rule. Everything else stays with the operator.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from podgroup_operator.api.failure_policy import Action, FailurePolicy
from podgroup_operator.core.placement import NodeInfo, constraints_of, node_allows

# What a node lists in status.declaredFeatures when its kubelet runs RestartAllContainers; the
# scheduler keeps pods that use the action off nodes that do not declare it.
RESTART_ALL_FEATURE = "RestartAllContainersOnContainerExits"
# The pod condition the kubelet keeps while (True) and after (False) a RestartAllContainers.
RESTARTING_CONDITION = "AllContainersRestarting"
# The reason the kubelet gives the containers it stops for a RestartAllContainers.
RESTARTING_REASON = "RestartingAllContainers"

_NATIVE = {Action.RESTART_CONTAINER: "Restart", Action.RESTART_POD_IN_PLACE: "RestartAllContainers"}


def native_rules(policy: FailurePolicy, container: str, *, restart_all: bool) -> list[dict[str, Any]]:
    """The container's restartPolicyRules for the leading rules the kubelet can express."""
    out: list[dict[str, Any]] = []
    for rule in policy.rules:
        m = rule.on_exit_codes
        if m is not None and m.container_name not in (None, container):
            continue  # never matches this container's exits
        native = _NATIVE.get(rule.action) if m is not None else None
        if native is None or (native == "RestartAllContainers" and not restart_all):
            break
        assert m is not None
        out.append({"action": native, "exitCodes": {"operator": str(m.operator), "values": sorted(m.values)}})
    return out


def restart_all_nodes(nodes: Iterable[NodeInfo], pod_spec: Mapping[str, Any]) -> bool:
    """Whether every node the pod may land on runs RestartAllContainers (and there is one): a pod
    using it cannot be scheduled anywhere else."""
    constraints = constraints_of(pod_spec)
    allowed = [n for n in nodes if node_allows(n, constraints)]
    return bool(allowed) and all(RESTART_ALL_FEATURE in n.declared_features for n in allowed)


def with_native_rules(
    pod_spec: Mapping[str, Any], policy: FailurePolicy, *, restart_all: bool
) -> dict[str, Any]:
    """The pod spec with native rules on its regular containers, or unchanged when they would
    change nothing (restartPolicy Always already restarts every exit, so plain Restart rules
    only matter to Never/OnFailure pods). Containers that set their own restartPolicy are left
    as the user wrote them."""
    spec = copy.deepcopy(dict(pod_spec))
    pod_policy = spec.get("restartPolicy") or "Always"
    for c in spec.get("containers") or []:
        if "restartPolicy" in c or "restartPolicyRules" in c:
            continue
        rules = native_rules(policy, c.get("name", ""), restart_all=restart_all)
        if not rules or (pod_policy == "Always" and all(r["action"] == "Restart" for r in rules)):
            continue
        # The API requires the container's own restartPolicy next to its rules; the pod's keeps
        # unmatched exits behaving as before.
        c["restartPolicy"] = pod_policy
        c["restartPolicyRules"] = rules
    return spec


def has_restart_all_rule(pod_spec: Mapping[str, Any]) -> bool:
    """Whether the pod, as the API server stored it, carries a RestartAllContainers rule (a server
    without the feature drops the field: the stored pod is the proof)."""
    return any(
        r.get("action") == "RestartAllContainers"
        for c in pod_spec.get("containers") or []
        for r in c.get("restartPolicyRules") or []
    )
