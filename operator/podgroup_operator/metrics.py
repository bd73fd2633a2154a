"""Prometheus metrics of the operator (served on PGO_METRICS_PORT, default 8080, at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

ACTIVE = Gauge(
    "podgroup_operator_active",
    "1 on the replica that runs the operator (the leader, with leader election); 0 on a follower.",
    registry=REGISTRY,
)
READY = Gauge(
    "podgroup_operator_ready",
    "1 while /readyz says ready: on the leader, every watch it needs is established; a follower is 1.",
    registry=REGISTRY,
)
WATCH_READY = Gauge(
    "podgroup_operator_watch_ready",
    "1 while the leader watches this resource (resolved through discovery, its watch running, "
    "the API server answering); 0 names what /readyz reports missing.",
    ["resource"],
    registry=REGISTRY,
)
CLUSTER_FEATURE = Gauge(
    "podgroup_operator_cluster_feature",
    "1 where the cluster was found to support the feature (pods_resize, container_restart_rules, "
    "restart_all_containers, pod_level_resources), 0 where it was found not to; absent until "
    "found out (discovery and dry-run probes, repeated every 10 minutes).",
    ["feature"],
    registry=REGISTRY,
)
GANG_ADMISSION_WAIT = Histogram(
    "podgroup_gang_admission_wait_seconds",
    "Time from a gang starting to wait (creation or last rollback) to its release.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
GANG_PLACED_AT_CREATION = Counter(
    "podgroup_gang_placed_at_creation_total",
    "Gangs that fit when their members were about to be created: created released, with no gate.",
    registry=REGISTRY,
)
GANG_RELEASE_LATENCY = Histogram(
    "podgroup_gang_release_seconds",
    "Time from the planner deciding a gang fits to its last member's gate removed.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
    registry=REGISTRY,
)
GANGS_WAITING = Gauge(
    "podgroup_gangs_waiting",
    "Gangs with members waiting at the gang gate after the last planning pass.",
    registry=REGISTRY,
)
GANG_PLANNING_SECONDS = Histogram(
    "podgroup_gang_planning_seconds",
    "Wall time of one gang planning pass that had gangs to plan (snapshot, then plan_steps in 5 ms "
    "slices on the event loop).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
EVENT_LOOP_LAG = Histogram(
    "podgroup_event_loop_lag_seconds",
    "How late a 25 ms timer fires on the operator's event loop: time the loop could not serve "
    "watch events, writes, lease renewals or health checks (its own work, or no CPU given).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
EVENT_LOOP_LAG_MAX = Gauge(
    "podgroup_event_loop_lag_max_seconds",
    "The largest event-loop lag seen since the operator started.",
    registry=REGISTRY,
)
EVENT_LOOP_OWN_LAG = Histogram(
    "podgroup_event_loop_own_lag_seconds",
    "The part of each event-loop lag the operator's own work can account for: at most the "
    "process's CPU time while the timer waited (the rest is time the machine gave it no CPU).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
EVENT_LOOP_OWN_LAG_MAX = Gauge(
    "podgroup_event_loop_own_lag_max_seconds",
    "The largest own part of an event-loop lag seen since the operator started.",
    registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "podgroup_gc_pause_seconds",
    "How long one garbage collection stopped the operator's event loop, by generation (2: full).",
    ["generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
GC_PAUSE_MAX = Gauge(
    "podgroup_gc_pause_max_seconds",
    "The longest garbage-collection pause since the operator started.",
    registry=REGISTRY,
)
GC_CPU_MAX = Gauge(
    "podgroup_gc_cpu_max_seconds",
    "The most CPU time one garbage collection used since the operator started (its pause, less "
    "the time the machine gave the process no CPU).",
    registry=REGISTRY,
)
GANG_ROLLBACKS = Counter(
    "podgroup_gang_rollbacks_total",
    "Released gangs rolled back after the schedule timeout.",
    registry=REGISTRY,
)
RECONCILES = Counter(
    "podgroup_reconciles_total",
    "PodGroup reconciles by result: success, retry (the API server refused a write), error.",
    ["result"],
    registry=REGISTRY,
)
API_WRITES = Counter(
    "podgroup_api_writes_total",
    "Writes sent to the API server by verb and resource.",
    ["verb", "resource"],
    registry=REGISTRY,
)
RESTARTS = Counter(
    "podgroup_restarts_total",
    "Failure-policy actions taken, by action and failure reason.",
    ["action", "reason"],
    registry=REGISTRY,
)
RESIZES = Counter(
    "podgroup_resizes_total",
    "In-place resizes by result (Applied, Capped, Deferred, Infeasible, Error).",
    ["result"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "podgroup_api_requests_total",
    "Requests of the operator's own API client (writes, reads; not Kopf's watches) by method and "
    "HTTP status code; code 0 = no answer (connection refused, reset, timed out).",
    ["method", "code"],
    registry=REGISTRY,
)
