"""What the handlers share: the writer, the work queue, the indexes, the clock, the memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import kopf

from podgroup_operator.config import Config
from podgroup_operator.core.admission import Placement
from podgroup_operator.core.features import UNKNOWN, ClusterFeatures
from podgroup_operator.core.gang import GangRequest
from podgroup_operator.core.observed import ObservedGroup
from podgroup_operator.handlers.memory import GroupKey, OperatorMemory
from podgroup_operator.k8s.adapter import ClusterWriter
from podgroup_operator.k8s.usage import UsageSource
from podgroup_operator.runtime.workqueue import WorkQueue


def utcnow() -> datetime:
    return datetime.now(UTC)


class Placer(Protocol):
    """Places a new gang before its members are created (handlers/admission.GangAdmitter)."""

    async def place(self, key: GroupKey, uid: str, request: GangRequest) -> Placement | None: ...


@dataclass
class OperatorContext:
    writer: ClusterWriter
    queue: WorkQueue
    groups: kopf.Index[GroupKey, ObservedGroup]
    member_pods: kopf.Index[GroupKey, Any]
    nodes: kopf.Index[str, Any]
    node_pods: kopf.Index[str, Any]
    config: Config = field(default_factory=Config)
    clock: Callable[[], datetime] = utcnow
    # Where usage comes from (metrics.k8s.io).
    usage: UsageSource | None = None
    # Everything kept in memory between reconciles (handlers/memory.py says why each is safe to lose).
    memory: OperatorMemory = field(default_factory=OperatorMemory)
    # What the cluster supports: written only by handlers/cluster_features.FeatureWatch.
    features: ClusterFeatures = UNKNOWN
    # The gang admitter, asked by a new group's reconcile to place its gang at creation; None:
    # every member is created gated.
    placer: Placer | None = None

    def group(self, key: GroupKey) -> ObservedGroup | None:
        store = self.groups.get(key)
        return next(iter(store), None) if store else None
