"""Kopf indexes: the operator's in-memory view of PodGroups and their pods. Kopf fills them
from its watches before any handler runs, so a reconcile never starts from a partial view."""

from __future__ import annotations

from typing import Any

import kopf

from podgroup_operator import API_GROUP, API_VERSION, PLURAL
from podgroup_operator.core.labels import GROUP_LABEL
from podgroup_operator.core.observed import ObservedGroup, ObservedPod, node_usage, observe_group, observe_pod
from podgroup_operator.core.placement import NodeInfo, observe_node
from podgroup_operator.core.resources import Resources


@kopf.index(API_GROUP, API_VERSION, PLURAL)
async def groups(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], ObservedGroup]:
    return {(namespace or "", name): observe_group(body)}


@kopf.index("pods", labels={GROUP_LABEL: kopf.PRESENT})
async def member_pods(
    namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], ObservedPod]:
    return {(namespace or "", labels[GROUP_LABEL]): observe_pod(body)}


@kopf.index("nodes")
async def nodes(name: str, body: kopf.Body, **_: Any) -> dict[str, NodeInfo]:
    return {name: observe_node(body)}


@kopf.index("pods")
async def node_pods(body: kopf.Body, **_: Any) -> dict[str, Resources] | None:
    """What every pod holds on its node (bound, or reserved by a gang release)."""
    usage = node_usage(body)
    return {usage[0]: usage[1]} if usage else None
