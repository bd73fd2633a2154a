"""The pod manifest of one member, built from its role's template."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from podgroup_operator import API_GROUP, API_VERSION, KIND
from podgroup_operator.api.failure_policy import FailurePolicy
from podgroup_operator.core.labels import (
    GROUP_LABEL,
    INDEX_LABEL,
    RECREATED_FOR_ANNOTATION,
    RESTART_GENERATION_ANNOTATION,
    ROLE_LABEL,
    TEMPLATE_HASH_ANNOTATION,
)
from podgroup_operator.core.members import Member
from podgroup_operator.core.native_restart import with_native_rules
from podgroup_operator.core.network import Identity, with_identity


def template_hash(template: dict[str, Any]) -> str:
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def member_pod(
    *,
    group: str,
    group_uid: str,
    member: Member,
    template: dict[str, Any],
    gates: tuple[str, ...] = (),
    restart_generation: int = 0,
    native_policy: FailurePolicy | None = None,
    restart_all: bool = False,
    identity: Identity | None = None,
    recreated_for: str | None = None,
) -> dict[str, Any]:
    """A pod owned by the PodGroup (garbage-collected with it), labelled with its role and index.
    With native_policy, its containers carry the kubelet's restart rules for what of the policy
    they can express (restart_all: its nodes run RestartAllContainers). With identity, it gets
    its stable DNS name (hostname, subdomain) and the PODGROUP_* variables (core/network.py)."""
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    if identity is not None:
        spec = with_identity(spec, group, member.name, identity)
    if native_policy is not None:
        spec = with_native_rules(spec, native_policy, restart_all=restart_all)
    if gates:
        existing = [g for g in spec.get("schedulingGates") or [] if g.get("name") not in gates]
        spec["schedulingGates"] = existing + [{"name": g} for g in gates]
    labels = {
        **(meta.get("labels") or {}),
        GROUP_LABEL: group,
        ROLE_LABEL: member.role,
        INDEX_LABEL: str(member.index),
    }
    annotations = {**(meta.get("annotations") or {}), TEMPLATE_HASH_ANNOTATION: template_hash(template)}
    if identity is not None:
        annotations.update(identity.size_annotations())
    if restart_generation:
        # A member created after group restarts starts in the current generation.
        annotations[RESTART_GENERATION_ANNOTATION] = str(restart_generation)
    if recreated_for:
        annotations[RECREATED_FOR_ANNOTATION] = recreated_for
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": member.name,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": KIND,
                    "name": group,
                    "uid": group_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
