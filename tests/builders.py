"""Test objects built the way the API server returns them, in the manner of Kueue's testing
wrappers: start from a minimal object, set what the test is about, then `.obj()` for the body or
`.observed()` for what the operator's indexes hold (read by the operator's own readers)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Self

from podgroup_operator.core.labels import GANG_GATE, GROUP_LABEL, INDEX_LABEL, ROLE_LABEL
from podgroup_operator.core.observed import ObservedPod, observe_pod
from podgroup_operator.core.placement import HOSTNAME_LABEL, NodeInfo, observe_node

Body = dict[str, Any]


class PodBuilder:
    """A pod named `name` (uid `uid-<name>`), Pending, unbound, no containers."""

    def __init__(self, name: str, namespace: str = "ml") -> None:
        self._body: Body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": {}},
            "spec": {"containers": []},
            "status": {"phase": "Pending"},
        }

    @property
    def _meta(self) -> Body:
        return self._body["metadata"]

    def uid(self, uid: str) -> Self:
        self._meta["uid"] = uid
        return self

    def member(self, group: str, role: str, index: int | None) -> Self:
        """Labelled as member `index` of `role` in `group` (None: no index label)."""
        self._meta["labels"].update({GROUP_LABEL: group, ROLE_LABEL: role})
        if index is not None:
            self._meta["labels"][INDEX_LABEL] = str(index)
        return self

    def owner(self, uid: str | None) -> Self:
        """Controlled by the PodGroup of this uid (None: no owner)."""
        refs = [{"apiVersion": "podgroup.dev/v1alpha1", "kind": "PodGroup", "controller": True, "uid": uid}]
        self._meta["ownerReferences"] = refs if uid is not None else []
        return self

    def annotation(self, key: str, value: str) -> Self:
        self._meta.setdefault("annotations", {})[key] = value
        return self

    def deleting(self, deleting: bool = True) -> Self:
        if deleting:
            self._meta["deletionTimestamp"] = "2025-01-02T03:05:00Z"
        return self

    def phase(self, phase: str) -> Self:
        self._body["status"]["phase"] = phase
        return self

    def node(self, node: str | None) -> Self:
        if node is None:
            self._body["spec"].pop("nodeName", None)
        else:
            self._body["spec"]["nodeName"] = node
        return self

    def ready(self, ready: bool = True) -> Self:
        conditions = [c for c in self._body["status"].get("conditions", []) if c["type"] != "Ready"]
        self._body["status"]["conditions"] = [*conditions, {"type": "Ready", "status": str(ready)}]
        return self

    def gates(self, *gates: str) -> Self:
        if gates:
            self._body["spec"]["schedulingGates"] = [{"name": g} for g in gates]
        else:
            self._body["spec"].pop("schedulingGates", None)
        return self

    def gang_gated(self, gated: bool = True) -> Self:
        return self.gates(GANG_GATE) if gated else self.gates()

    def container(self, name: str = "main", image: str = "registry.local/tools:1.0", **fields: Any) -> Self:
        self._body["spec"]["containers"].append({"name": name, "image": image, **fields})
        return self

    def spec(self, **fields: Any) -> Self:
        self._body["spec"].update(fields)
        return self

    def status(self, **fields: Any) -> Self:
        self._body["status"].update(fields)
        return self

    def obj(self) -> Body:
        return copy.deepcopy(self._body)

    def observed(self) -> ObservedPod:
        return observe_pod(self.obj())


class NodeBuilder:
    """A node named `name`, labelled with its hostname, with nothing allocatable."""

    def __init__(self, name: str) -> None:
        self._body: Body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {HOSTNAME_LABEL: name}},
            "spec": {},
            "status": {},
        }

    def labels(self, labels: Mapping[str, str]) -> Self:
        self._body["metadata"]["labels"].update(labels)
        return self

    def without_hostname(self) -> Self:
        self._body["metadata"]["labels"].pop(HOSTNAME_LABEL)
        return self

    def allocatable(self, **quantities: str) -> Self:
        self._body["status"]["allocatable"] = dict(quantities)
        return self

    def taints(self, taints: Sequence[Body]) -> Self:
        if taints:
            self._body["spec"]["taints"] = list(taints)
        return self

    def unschedulable(self, unschedulable: bool = True) -> Self:
        if unschedulable:
            self._body["spec"]["unschedulable"] = True
        return self

    def declared_features(self, *features: str) -> Self:
        self._body["status"]["declaredFeatures"] = list(features)
        return self

    def obj(self) -> Body:
        return copy.deepcopy(self._body)

    def observed(self) -> NodeInfo:
        return observe_node(self.obj())
