"""Operator settings from the environment, mapped onto Kopf's settings in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

import kopf

from podgroup_operator import API_GROUP
from podgroup_operator.runtime.diffbase import NoDiffBase


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _native_restart(raw: str) -> str:
    if raw not in ("auto", "off"):
        raise ValueError(f"PGO_NATIVE_RESTART must be auto or off, not {raw!r}")
    return raw


@dataclass(frozen=True)
class Config:
    # Concurrent reconciles; each is I/O-bound on one event loop.
    workers: int = 16
    # Watch streams are restarted at least this often: a silently stalled stream heals.
    watch_server_timeout: int = 300
    watch_client_timeout: int = 330
    # Long enough to ride out an API server restart without giving up on a request.
    request_timeout: int = 60
    # Gang admission: backoff after a rollback doubles from base up to max; a gang that has
    # waited `starvation` seconds is no longer passed by gangs behind it.
    gang_backoff_base_seconds: float = 10.0
    gang_backoff_max_seconds: float = 300.0
    gang_starvation_seconds: float = 600.0
    admission_debounce_seconds: float = 0.05
    # A new gang that fits at once is created released (no gate, no release patch per member).
    gang_place_at_creation: bool = True
    # Writes in flight at once: Kopf has no client-side rate limiter, so the operator bounds its
    # own, per kind of write (see k8s/adapter.py).
    max_release_writes: int = 64
    max_pod_writes: int = 32
    # Members one reconcile creates before the group goes to the back of the queue (fairness).
    max_creates_per_reconcile: int = 64
    max_report_writes: int = 8
    metrics_port: int = 8080
    # Not ready (a needed watch missing: API server away, CRD not served) for this long, the
    # operator exits non-zero so that its Deployment restarts it; 0 never exits.
    blind_exit_seconds: float = 300.0
    # A pod event schedules its group's reconcile this much later, so the members of a gang
    # moving through their phases together cost one status write, not one each.
    pod_event_batch_seconds: float = 0.5
    # Resize: how often usage is read (metrics-server scrapes every 15 s by default), and the
    # recommender's confidence thresholds (VPA-like defaults; tests lower them).
    resize_interval_seconds: float = 15.0
    resize_min_samples: int = 20
    resize_min_history_seconds: float = 300.0
    # Whether pods' spec.resources can be resized in place (cgroup v2 + the
    # InPlacePodLevelResourcesVerticalScaling gate); without it pod-level sizes are only recommended.
    pod_level_resize: bool = False
    # Failure policies: "auto" writes the kubelet's own restart rules (KEP-5307/KEP-5532) into
    # member pods where the nodes support them; "off" leaves every restart to the operator.
    native_restart: str = "auto"
    # The cluster's DNS domain (the kubelet's clusterDomain): members' and leaders' FQDNs end in it.
    cluster_domain: str = "cluster.local"
    # Garbage collection (runtime/gc_pauses.py): survivors of a full collection are frozen, so
    # the next walks only newer objects; everything is swept (unfrozen, collected) this often.
    gc_freeze: bool = True
    gc_sweep_seconds: float = 3600.0

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            workers=_env_int("PGO_WORKERS", cls.workers),
            watch_server_timeout=_env_int("PGO_WATCH_SERVER_TIMEOUT", cls.watch_server_timeout),
            watch_client_timeout=_env_int("PGO_WATCH_CLIENT_TIMEOUT", cls.watch_client_timeout),
            request_timeout=_env_int("PGO_REQUEST_TIMEOUT", cls.request_timeout),
            gang_backoff_base_seconds=_env_float(
                "PGO_GANG_BACKOFF_BASE_SECONDS", cls.gang_backoff_base_seconds
            ),
            gang_backoff_max_seconds=_env_float("PGO_GANG_BACKOFF_MAX_SECONDS", cls.gang_backoff_max_seconds),
            gang_starvation_seconds=_env_float("PGO_GANG_STARVATION_SECONDS", cls.gang_starvation_seconds),
            max_release_writes=_env_int("PGO_MAX_RELEASE_WRITES", cls.max_release_writes),
            max_pod_writes=_env_int("PGO_MAX_POD_WRITES", cls.max_pod_writes),
            max_creates_per_reconcile=_env_int(
                "PGO_MAX_CREATES_PER_RECONCILE", cls.max_creates_per_reconcile
            ),
            max_report_writes=_env_int("PGO_MAX_REPORT_WRITES", cls.max_report_writes),
            metrics_port=_env_int("PGO_METRICS_PORT", cls.metrics_port),
            blind_exit_seconds=_env_float("PGO_BLIND_EXIT_SECONDS", cls.blind_exit_seconds),
            pod_event_batch_seconds=_env_float("PGO_POD_EVENT_BATCH_SECONDS", cls.pod_event_batch_seconds),
            resize_interval_seconds=_env_float("PGO_RESIZE_INTERVAL_SECONDS", cls.resize_interval_seconds),
            resize_min_samples=_env_int("PGO_RESIZE_MIN_SAMPLES", cls.resize_min_samples),
            resize_min_history_seconds=_env_float(
                "PGO_RESIZE_MIN_HISTORY_SECONDS", cls.resize_min_history_seconds
            ),
            pod_level_resize=os.environ.get("PGO_POD_LEVEL_RESIZE", "") == "true",
            native_restart=_native_restart(os.environ.get("PGO_NATIVE_RESTART") or cls.native_restart),
            cluster_domain=os.environ.get("PGO_CLUSTER_DOMAIN") or cls.cluster_domain,
            gc_freeze=os.environ.get("PGO_GC_FREEZE", "true") != "false",
            gang_place_at_creation=os.environ.get("PGO_GANG_PLACE_AT_CREATION", "true") != "false",
            gc_sweep_seconds=_env_float("PGO_GC_SWEEP_SECONDS", cls.gc_sweep_seconds),
        )

    def apply(self, settings: kopf.OperatorSettings) -> None:
        settings.watching.server_timeout = self.watch_server_timeout
        settings.watching.client_timeout = self.watch_client_timeout
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = self.request_timeout
        # Capped at 15 s and repeated forever (handlers/lifecycle.py): while the API server is
        # away the operator retries it at least every 15 s, and never gives up.
        settings.networking.error_backoffs = [1, 2, 4, 8, 15]
        # Own prefixes, so nothing collides with another Kopf operator on the same objects.
        settings.persistence.finalizer = f"{API_GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
        settings.persistence.diffbase_storage = NoDiffBase()  # no handler reacts to changes
        # Logs stay logs; only the operator's own events are posted to objects.
        settings.posting.level = 100
        settings.execution.max_workers = 4


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Leader election among replicas (runtime/leader.py): off for `make run` and tests, on in
    the manifests. The lease lives in the operator's own namespace unless told otherwise."""

    enabled: bool = False
    lease_name: str = "podgroup-operator"
    lease_namespace: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @classmethod
    def from_env(cls) -> LeaderElectionConfig:
        return cls(
            enabled=os.environ.get("PGO_LEADER_ELECT", "") == "true",
            lease_name=os.environ.get("PGO_LEADER_ELECT_LEASE_NAME") or cls.lease_name,
            lease_namespace=os.environ.get("PGO_LEADER_ELECT_LEASE_NAMESPACE") or own_namespace(),
            lease_duration=_env_float("PGO_LEADER_ELECT_LEASE_DURATION", cls.lease_duration),
            renew_deadline=_env_float("PGO_LEADER_ELECT_RENEW_DEADLINE", cls.renew_deadline),
            retry_period=_env_float("PGO_LEADER_ELECT_RETRY_PERIOD", cls.retry_period),
        )


def own_namespace() -> str:
    """The pod's namespace (downward API POD_NAMESPACE, else its service account's), or ""."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip()
    except OSError:
        return ""
