"""Operator start and stop: settings, the API client, the work queue, the watch guard."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import kopf

from podgroup_operator.config import Config
from podgroup_operator.handlers.admission import GangAdmitter
from podgroup_operator.handlers.cluster_features import FeatureWatch
from podgroup_operator.handlers.context import GroupKey, OperatorContext
from podgroup_operator.handlers.reconcile import reconcile
from podgroup_operator.k8s.adapter import ClusterWriter
from podgroup_operator.k8s.client import EndlessBackoffs, api_client
from podgroup_operator.k8s.discovery import discover
from podgroup_operator.k8s.usage import MetricsServerSource
from podgroup_operator.runtime.gc_pauses import GcPauses
from podgroup_operator.runtime.loop_lag import LoopLagMonitor
from podgroup_operator.runtime.watches import WatchGuard
from podgroup_operator.runtime.workqueue import WorkQueue

logger = logging.getLogger(__name__)

FIRST_DISCOVERY_SECONDS = 10.0


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    config = Config.from_env()
    config.apply(settings)
    # Retry the API server for as long as it is away, rather than exit after the last backoff.
    settings.networking.error_backoffs = EndlessBackoffs(
        cast(list[float], settings.networking.error_backoffs)
    )
    memo.api = await api_client(request_timeout=config.request_timeout)
    queue = WorkQueue(lambda key: reconcile(ctx, cast(GroupKey, key)), workers=config.workers)
    ctx = OperatorContext(
        writer=ClusterWriter(
            memo.api,
            pod_writes=config.max_pod_writes,
            report_writes=config.max_report_writes,
            release_writes=config.max_release_writes,
        ),
        queue=queue,
        groups=kwargs["groups"],
        member_pods=kwargs["member_pods"],
        nodes=kwargs["nodes"],
        node_pods=kwargs["node_pods"],
        config=config,
        usage=MetricsServerSource(memo.api),
    )
    # What the cluster supports, before the first reconcile writes a pod; bounded, so that an API
    # server away at start delays nothing (unknown answers are the safe choice, found out later).
    features = FeatureWatch(
        lambda: discover(memo.api, memo.get("probe_namespace") or "default"),
        lambda found: setattr(ctx, "features", found),
        native_restart=config.native_restart != "off",
        pod_level_resize=config.pod_level_resize,
    )
    try:
        await asyncio.wait_for(features.refresh(), FIRST_DISCOVERY_SECONDS)
    except Exception:
        logger.info("the cluster's features are not known yet; looking again in the background")
    memo.features = asyncio.create_task(features.run(), name="cluster features")
    memo.ctx = ctx
    memo.admitter = GangAdmitter(ctx, config)
    if config.gang_place_at_creation:
        ctx.placer = memo.admitter
    memo.loop_lag = LoopLagMonitor()
    memo.loop_lag.start()
    memo.gc_pauses = GcPauses(config.gc_sweep_seconds, freeze=config.gc_freeze)
    memo.gc_pauses.start()
    queue.start()
    memo.admitter.start()
    guard = WatchGuard(memo.insights, settings, memo.readiness, exit_after=config.blind_exit_seconds)
    memo.watch_guard = asyncio.create_task(guard.run(), name="watch guard")


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    memo.watch_guard.cancel()
    memo.features.cancel()
    await memo.admitter.stop()
    await memo.loop_lag.stop()
    await memo.gc_pauses.stop()
    await memo.ctx.queue.stop()
    await memo.api.close()
