"""Lease-based leader election: among the operator's replicas exactly one acts.

The semantics are controller-runtime's: a replica runs the operator only while it holds a
coordination.k8s.io Lease; a leader that cannot renew within the renew deadline, or finds
another holder, ends its process at once (the Deployment restarts it as a follower), so no two
replicas act at the same time; a leader that stops gracefully releases the lease, and a
follower takes over on its next retry instead of after the lease duration.

Why not kubernetes_asyncio.leaderelection (36.1.0), checked before writing this:
- no per-request timeout: a renew hanging on a slow or partitioned API server (the client's
  default is 5 minutes) keeps the old leader acting after its lease expired and a follower
  took it over: two leaders;
- an error that is not an ApiException (connection refused, a reset) escapes `run()` without
  cancelling the leading task: the elector dies, the operator keeps acting unrenewed;
- no release on shutdown (`update_lease` asserts a holder), so every handover waits for expiry;
- a leader that reads another holder keeps acting until its renew deadline passes;
- a float lease duration fails (`int("15.0")`); renewTime is local time marked "Z"; every
  ordinary write conflict between candidates is logged with a traceback.

Safety rests on the timings: a leader counts its renew deadline from the moment it *sent* its
last successful renew, and renew_deadline < lease_duration, so it has stopped before any
follower's lease duration, counted from when the follower saw that renew, can run out.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

logger = logging.getLogger(__name__)

# Retries of a follower are spread by up to this factor, so candidates do not poll in step.
JITTER = 1.2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class LeaseTimings:
    """controller-runtime's defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period * JITTER < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election timings need 0 < retry_period*1.2 < renew_deadline < lease_duration, "
                f"got {self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


class LeaseLost(Exception):
    """The lease is no longer ours: the process must stop acting now."""


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says, plus its resourceVersion (the write precondition)."""

    holder: str  # "" when released or never held
    duration_seconds: int
    transitions: int
    acquire_time: str | None
    resource_version: str


def lease_is_free(record: LeaseRecord, identity: str, unchanged_since: float, now: float) -> bool:
    """May `identity` take the lease? Yes when nobody holds it, we do, or the holder has not
    renewed for its lease duration as timed on our clock from when we first saw this version
    (clocks of different machines are never compared)."""
    if not record.holder or record.holder == identity:
        return True
    return now - unchanged_since >= record.duration_seconds


def micro_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_TRANSIENT = (ApiException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        timings: LeaseTimings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases = client.CoordinationV1Api(api)
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.timings = timings
        self._clock = clock
        self._record: LeaseRecord | None = None  # the last version seen
        self._record_seen_at = 0.0  # our clock when that version was first seen
        self._renewed_at = 0.0  # our clock when the last successful renew was sent
        self.leading = False

    # ------------------------------------------------------------------ the API

    async def _read(self, timeout: float) -> LeaseRecord | None:
        try:
            lease = await self._leases.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        spec = lease.spec
        acquired = spec.acquire_time
        return LeaseRecord(
            holder=spec.holder_identity or "",
            duration_seconds=spec.lease_duration_seconds or round(self.timings.lease_duration),
            transitions=spec.lease_transitions or 0,
            acquire_time=micro_time(acquired) if isinstance(acquired, datetime) else acquired,
            resource_version=lease.metadata.resource_version,
        )

    def _body(self, holder: str, duration: int, transitions: int, acquire_time: str | None) -> dict[str, Any]:
        now = micro_time(datetime.now(UTC))
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self._record is not None:
            meta["resourceVersion"] = self._record.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": duration,
                "leaseTransitions": transitions,
                "acquireTime": acquire_time or now,
                "renewTime": now,
            },
        }

    async def _write(self, body: dict[str, Any], timeout: float) -> bool:
        """Create or replace (with the resourceVersion seen: compare-and-swap). False when
        another candidate wrote first."""
        try:
            if self._record is None:
                lease = await self._leases.create_namespaced_lease(
                    self.namespace,
                    body,  # type: ignore[arg-type]
                    _request_timeout=timeout,
                )
            else:
                lease = await self._leases.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    body,  # type: ignore[arg-type]
                    _request_timeout=timeout,
                )
        except ApiException as exc:
            if exc.status == 409:
                self._record = None  # stale: read again next time
                return False
            raise
        spec = body["spec"]
        self._record = LeaseRecord(
            holder=spec["holderIdentity"],
            duration_seconds=spec["leaseDurationSeconds"],
            transitions=spec["leaseTransitions"],
            acquire_time=spec["acquireTime"],
            resource_version=lease.metadata.resource_version,
        )
        self._record_seen_at = self._clock()
        return True

    async def _try_acquire_or_renew(self, timeout: float) -> bool:
        duration = round(self.timings.lease_duration)
        if self.leading and self._record is not None and self._record.holder == self.identity:
            # Renew straight on the version we wrote; a conflict means someone else wrote.
            body = self._body(self.identity, duration, self._record.transitions, self._record.acquire_time)
            if await self._write(body, timeout):
                return True
        record = await self._read(timeout)
        now = self._clock()
        if record is None:
            self._record = None
            return await self._write(self._body(self.identity, duration, 0, None), timeout)
        if self._record is None or record.resource_version != self._record.resource_version:
            self._record, self._record_seen_at = record, now
        if self.leading and record.holder != self.identity:
            # Taken over (or released by hand): never take it back while possibly mid-work.
            raise LeaseLost(f"lease {self.namespace}/{self.name} is now held by {record.holder or 'nobody'}")
        if not lease_is_free(record, self.identity, self._record_seen_at, now):
            return False
        ours = record.holder == self.identity
        transitions = record.transitions if ours else record.transitions + 1
        acquire_time = record.acquire_time if ours else None
        return await self._write(self._body(self.identity, duration, transitions, acquire_time), timeout)

    # ------------------------------------------------------------------ the loops

    async def acquire(self) -> None:
        """Wait until this candidate holds the lease."""
        logger.info("waiting for lease %s/%s as %s", self.namespace, self.name, self.identity)
        while True:
            sent = self._clock()
            try:
                taken = await asyncio.wait_for(
                    self._try_acquire_or_renew(self.timings.renew_deadline), self.timings.renew_deadline
                )
            except _TRANSIENT as exc:
                logger.warning("could not read or take lease %s/%s: %s", self.namespace, self.name, exc)
                taken = False
            if taken:
                self._renewed_at = sent
                self.leading = True
                logger.info("acquired lease %s/%s as %s", self.namespace, self.name, self.identity)
                return
            await asyncio.sleep(self.timings.retry_period * random.uniform(1, JITTER))

    async def hold(self) -> str:
        """Renew every retry period while leading. Returns why the lease was lost: after that
        the caller must not act any more."""
        while True:
            await asyncio.sleep(self.timings.retry_period)
            while True:
                remaining = self._renewed_at + self.timings.renew_deadline - self._clock()
                if remaining <= 0:
                    self.leading = False
                    return f"could not renew lease {self.namespace}/{self.name} within the renew deadline"
                sent = self._clock()
                try:
                    renewed = await asyncio.wait_for(self._try_acquire_or_renew(remaining), remaining)
                except LeaseLost as exc:
                    self.leading = False
                    return str(exc)
                except _TRANSIENT as exc:
                    logger.warning("could not renew lease %s/%s: %s", self.namespace, self.name, exc)
                    renewed = False
                if renewed:
                    self._renewed_at = sent
                    break
                await asyncio.sleep(min(self.timings.retry_period, max(remaining - 0.1, 0)))

    async def release(self) -> None:
        """Give the lease up (graceful stop), so a follower takes over on its next retry."""
        if not self.leading or self._record is None:
            return
        self.leading = False
        body = self._body("", 1, self._record.transitions, self._record.acquire_time)
        try:
            if await self._write(body, self.timings.retry_period):
                logger.info("released lease %s/%s", self.namespace, self.name)
        except _TRANSIENT as exc:  # it expires on its own
            logger.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)


async def run_as_leader(
    elector: LeaderElector,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    on_lost: Callable[[str], None],
    while_following: Callable[[], Awaitable[Callable[[], Awaitable[None]]]] | None = None,
) -> None:
    """Wait for the lease, then run `work` while holding it.

    Losing the lease calls `on_lost`, which must end the process without running anything
    else (the work may be mid-write: only exiting guarantees it stops; should it return, the
    work is cancelled). When the work ends by itself (a graceful stop), the lease is released.
    `while_following` starts what a follower serves (a health endpoint) and returns how to
    stop it."""
    stop_following = await while_following() if while_following else None
    try:
        if not await _acquire_unless_stopped(elector):
            return
    finally:
        if stop_following is not None:
            await stop_following()
    working = asyncio.create_task(work(), name="leader work")
    holding = asyncio.create_task(elector.hold(), name="lease renewal")
    try:
        await asyncio.wait({working, holding}, return_when=asyncio.FIRST_COMPLETED)
        if holding.done():
            on_lost(holding.result())
            working.cancel()  # only reached when on_lost returned
            await asyncio.gather(working, return_exceptions=True)
            return
        holding.cancel()
        await working  # re-raises the work's failure, after the finally below released
    finally:
        if not holding.done():
            holding.cancel()
        await elector.release()


async def _acquire_unless_stopped(elector: LeaderElector) -> bool:
    """Wait for the lease; False when SIGTERM/SIGINT came first. Kopf handles these signals
    only once it runs, and a container's PID 1 ignores SIGTERM without a handler: a follower
    would otherwise outlive its pod's stop and take the lease the old leader just released."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopped.set)
    acquiring = asyncio.create_task(elector.acquire(), name="lease acquisition")
    stopping = asyncio.create_task(stopped.wait(), name="stop signal")
    try:
        await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        for task in (acquiring, stopping):
            task.cancel()
        await asyncio.gather(acquiring, stopping, return_exceptions=True)
    if not stopped.is_set():
        acquiring.result()  # re-raises a failure to acquire
        return True
    logger.info("stopped before leading")
    await elector.release()  # in case the lease was taken in the same instant
    return False


def follower_health(url: str | None) -> Callable[[], Awaitable[Callable[[], Awaitable[None]]]] | None:
    """A follower answers the liveness/readiness endpoint Kopf serves once leading (same URL),
    so the kubelet neither restarts it nor holds a rolling update on it."""
    if not url:
        return None
    from urllib.parse import urlsplit

    from aiohttp import web

    parts = urlsplit(url)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"leader": False})

    async def start() -> Callable[[], Awaitable[None]]:
        app = web.Application()
        app.router.add_get(parts.path or "/", healthz)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, parts.hostname, parts.port or 80, reuse_address=True).start()
        return runner.cleanup

    return start
