"""Keeps the operator's view of what the cluster supports (core/features.py) current: found at
start, again every 10 minutes (a cluster is upgraded, or a gate turned on, under a running
operator), every 15 s while an answer is missing. Logged when an answer changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from podgroup_operator.core.features import FLAGS, UNKNOWN, ClusterFeatures, describe, keep_known
from podgroup_operator.metrics import CLUSTER_FEATURE

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 600.0
RETRY_SECONDS = 15.0


class FeatureWatch:
    """The one writer of the features the reconciles read (OperatorContext.features, through
    `publish`)."""

    def __init__(
        self,
        discover: Callable[[], Awaitable[ClusterFeatures]],
        publish: Callable[[ClusterFeatures], None],
        *,
        native_restart: bool,
        pod_level_resize: bool,
    ) -> None:
        self._discover = discover
        self._publish = publish
        self._native_restart = native_restart
        self._pod_level_resize = pod_level_resize
        self.features = UNKNOWN

    async def refresh(self) -> None:
        """Ask again; an answer the server could not give this time keeps the last one."""
        merged = keep_known(self.features, await self._discover())
        if merged != self.features:
            self.features = merged
            self._publish(merged)
            for line in describe(
                merged, native_restart=self._native_restart, pod_level_resize=self._pod_level_resize
            ):
                logger.info("cluster features: %s", line)
        for flag in FLAGS:
            value = getattr(merged, flag)
            if value is not None:
                CLUSTER_FEATURE.labels(flag).set(1 if value else 0)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS if self.features.known else RETRY_SECONDS)
            try:
                await self.refresh()
            except Exception:
                logger.exception("finding out the cluster's features failed; trying again")
