"""What the handlers share: the writer, the work queue, the indexes, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from podgroup_operator.config import Config
from podgroup_operator.core.observed import ObservedGroup
from podgroup_operator.core.recommender import RoleUsage
from podgroup_operator.k8s.adapter import ClusterWriter
from podgroup_operator.k8s.usage import UsageSource
from podgroup_operator.runtime.workqueue import WorkQueue

GroupKey = tuple[str, str]  # (namespace, name)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    # The last status written per group: an observation of our own write that the watch
    # may not have delivered yet, so the same status is not written (or announced) twice.
    last_status: dict[GroupKey, dict[str, Any]] = field(default_factory=dict)
    # The failure record last written per group, until the watch shows it: a reconcile that
    # runs on the older status must complete that decision, not decide (and announce) it again.
    failure_records: dict[GroupKey, Any] = field(default_factory=dict)
    # The gang planner's latest word on each waiting gang (recomputed on every pass).
    waiting: dict[GroupKey, str] = field(default_factory=dict)
    # Members created by this process that the pod index does not show yet (name -> when).
    created: dict[GroupKey, dict[str, datetime]] = field(default_factory=dict)
    # Where usage comes from, and what the recommender has learnt (checkpointed in status).
    usage: UsageSource | None = None
    resize_usage: dict[tuple[str, str, str, str | None], RoleUsage] = field(default_factory=dict)
    resize_checkpointed: dict[GroupKey, datetime] = field(default_factory=dict)
    # What the last look at each group's Service found: (group uid, why it is not the group's
    # own, or None). Forgotten when a Service of that name is deleted, so it is looked at again.
    services: dict[GroupKey, tuple[str, str | None]] = field(default_factory=dict)

    def group(self, key: GroupKey) -> ObservedGroup | None:
        store = self.groups.get(key)
        return next(iter(store), None) if store else None
