"""`podgroup-operator run`: Kopf with this operator's handlers and settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import kopf

from podgroup_operator.config import LeaderElectionConfig
from podgroup_operator.logs import LOG_FORMAT_ENV, LogFormat, configure_logging, default_log_format
from podgroup_operator.runtime.readiness import Readiness


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="podgroup-operator")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    run.add_argument("--namespace", "-n", action="append", help="watch only these namespaces")
    run.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--verbose", action="store_true")
    run.add_argument(
        "--log-format",
        type=LogFormat,
        choices=list(LogFormat),
        default=default_log_format(),
        help=f"text (default) or json, one object per line (env {LOG_FORMAT_ENV})",
    )
    elect = run.add_argument_group("leader election (one active replica; env PGO_LEADER_ELECT_*)")
    elect.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=None)
    elect.add_argument("--leader-elect-lease-name")
    elect.add_argument("--leader-elect-lease-namespace", help="default: the pod's namespace")
    elect.add_argument("--leader-elect-lease-duration", type=float, metavar="SECONDS")
    elect.add_argument("--leader-elect-renew-deadline", type=float, metavar="SECONDS")
    elect.add_argument("--leader-elect-retry-period", type=float, metavar="SECONDS")
    args = parser.parse_args(argv)

    configure_logging(args.log_format, args.verbose)
    import podgroup_operator.handlers  # noqa: F401  registers the handlers
    from podgroup_operator.k8s.request_metrics import count_api_requests
    from podgroup_operator.metrics import ACTIVE

    count_api_requests()
    readiness = Readiness()
    serve_metrics(readiness)

    namespaces = args.namespace or []
    # Where the feature probes' dry-run pods are "created" (k8s/discovery.py): a namespace the
    # operator may create pods in.
    probe_namespace = next(
        (n for n in namespaces if not any(ch in n for ch in "*?[!")),
        os.environ.get("POD_NAMESPACE") or "default",
    )

    async def operator() -> None:
        from kopf._cogs.structs.references import Insights

        from podgroup_operator.runtime.index_waits import share_index_waits
        from podgroup_operator.runtime.watches import tolerate_vanishing_resources

        ACTIVE.set(1)
        tolerate_vanishing_resources()
        share_index_waits()
        # Kopf's view of what it serves, passed in so that runtime/watches.py can check and
        # repair it (handlers/lifecycle.py starts the guard).
        insights = Insights()
        await kopf.operator(
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
            liveness_endpoint=args.liveness,
            insights=insights,
            memo=kopf.Memo(readiness=readiness, insights=insights, probe_namespace=probe_namespace),
        )

    election = leader_election(parser, args)
    if election is None:
        asyncio.run(operator())
    else:
        readiness.set_follower()
        asyncio.run(run_elected(election, operator, args.liveness))


def serve_metrics(readiness: Readiness) -> None:
    """/metrics and /readyz from process start, on every replica: a follower answers too (its
    counters stay at zero), so a scrape target per pod is never down."""
    from podgroup_operator.config import Config
    from podgroup_operator.metrics import REGISTRY
    from podgroup_operator.runtime.readiness import serve

    port = Config.from_env().metrics_port
    if port:
        serve(port, REGISTRY, readiness)


def leader_election(parser: argparse.ArgumentParser, args: argparse.Namespace) -> LeaderElectionConfig | None:
    """Flags over PGO_LEADER_ELECT_* over the defaults; None when leader election is off."""
    env = LeaderElectionConfig.from_env()
    enabled = env.enabled if args.leader_elect is None else args.leader_elect
    if not enabled:
        return None
    config = LeaderElectionConfig(
        enabled=True,
        lease_name=args.leader_elect_lease_name or env.lease_name,
        lease_namespace=args.leader_elect_lease_namespace or env.lease_namespace,
        lease_duration=args.leader_elect_lease_duration or env.lease_duration,
        renew_deadline=args.leader_elect_renew_deadline or env.renew_deadline,
        retry_period=args.leader_elect_retry_period or env.retry_period,
    )
    if not config.lease_namespace:
        parser.error("--leader-elect needs --leader-elect-lease-namespace outside a pod")
    return config


async def run_elected(
    config: LeaderElectionConfig,
    operator: Callable[[], Coroutine[Any, Any, None]],
    liveness: str | None,
) -> None:
    from podgroup_operator.k8s.client import api_client
    from podgroup_operator.runtime.leader import LeaderElector, LeaseTimings, follower_health, run_as_leader

    # Unique per process, as controller-runtime's: a restarted container is a new candidate.
    identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    api = await api_client()
    elector = LeaderElector(
        api,
        name=config.lease_name,
        namespace=config.lease_namespace,
        identity=identity,
        timings=LeaseTimings(config.lease_duration, config.renew_deadline, config.retry_period),
    )

    def lost(reason: str) -> None:
        # Exit now, mid-write or not: the next leader redoes nothing (reconciles are idempotent
        # and rebuilt from the cluster), and no second replica may act meanwhile.
        logging.getLogger(__name__).critical("leader election lost: %s; exiting", reason)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(1)

    try:
        await run_as_leader(elector, operator, on_lost=lost, while_following=follower_health(liveness))
    finally:
        await api.close()
