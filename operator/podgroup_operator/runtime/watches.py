"""Never blind: every watch the operator needs, checked all the time, and found again when lost.

Kopf resolves resources through discovery once at start and again only on a CRD event. An
operator that started while the API server was away, or while the CRD was not yet Established
(discovery lists a CRD only then), logged "Unresolved resources cannot be served" and never
watched PodGroups, while its liveness stayed green (tests/reliability/test_blind_start.py).

The guard here checks, every few seconds, that each needed resource is resolved, that Kopf's
watch task for it is running and that the API server answers; whatever is missing is re-resolved
through Kopf's own discovery scan, with backoff. Not ready for longer than `exit_after` seconds:
the process exits non-zero, so its Deployment restarts it and the restart is counted and seen.

This reaches into Kopf's observation internals (kopf is pinned: pyproject.toml); the unit tests
and the reliability suite fail if a Kopf upgrade changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Collection, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf
from kopf._cogs.clients import api, errors, scanning
from kopf._cogs.structs import references
from kopf._core.intents import registries
from kopf._core.reactor import observation, queueing

from podgroup_operator import API_GROUP, PLURAL
from podgroup_operator.core.backoff import backoff_seconds
from podgroup_operator.metrics import READY, WATCH_READY
from podgroup_operator.runtime.readiness import Readiness

log = logging.getLogger(__name__)
_silent = logging.getLogger(f"{__name__}.probe")
_silent.addHandler(logging.NullHandler())
_silent.propagate = False


@dataclass(frozen=True)
class Needed:
    """A resource the operator cannot work without, as discovery names it."""

    group: str
    plural: str

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def matches(self, resource: references.Resource) -> bool:
        return resource.group == self.group and resource.plural == self.plural


NOT_SERVED = "not served by the API server's discovery"
NO_WATCH = "no watch running"
NEEDED = (Needed(API_GROUP, PLURAL), Needed("", "pods"), Needed("", "nodes"))


def watcher_names(resource: references.Resource, namespaces: Collection[str | None]) -> list[str]:
    """The names Kopf gives its watch tasks (kopf/_core/reactor/orchestration.py)."""
    scopes = sorted(namespaces, key=str) if resource.namespaced else [None]
    return [f"watcher for {resource!r}@{namespace}" for namespace in scopes]


def problems(
    needed: Iterable[Needed],
    watched: Collection[references.Resource],
    namespaces: Collection[str | None],
    live_tasks: Collection[str],
    api_error: str | None,
) -> dict[str, str]:
    """What keeps each needed resource from being watched now; {} when all are."""
    found: dict[str, str] = {}
    for item in needed:
        resolved = [r for r in watched if item.matches(r)]
        if api_error:
            found[str(item)] = f"the API server does not answer: {api_error}"
        elif not resolved:
            found[str(item)] = f"{NOT_SERVED} (CRD missing or not Established?)"
        elif resolved[0].namespaced and not namespaces:
            found[str(item)] = "no namespace to watch it in"
        else:
            absent = [n for r in resolved for n in watcher_names(r, namespaces) if n not in live_tasks]
            if absent:
                found[str(item)] = f"{NO_WATCH} ({', '.join(absent)})"
    return found


def improves(
    group: str, watched: Collection[references.Resource], scanned: Collection[references.Resource]
) -> bool:
    """Whether a scan of `group` resolves more of what is needed and loses nothing: a discovery
    still coming up answers in parts, and revising from a part would drop what Kopf serves."""
    needed = [n for n in NEEDED if n.group == group]
    before = {n for n in needed if any(n.matches(r) for r in watched)}
    after = {n for n in needed if any(n.matches(r) for r in scanned)}
    return before < after


def unresolved(found: dict[str, str]) -> bool:
    """Whether discovery must be asked again (the other problems heal without it)."""
    return any(why.startswith(NOT_SERVED) for why in found.values())


Watcher = Callable[..., Coroutine[Any, Any, None]]


def tolerant(watcher: Watcher) -> Watcher:
    """Kopf's watcher, except that a 404 ends only this watch, not the operator.

    A deleted CRD closes its watches; one that reconnects before Kopf has seen the CRD's
    deletion gets 404, and Kopf lets that error stop the whole operator ("Multidimensional
    multitasker has failed: 404"). Here the watch ends instead; Kopf starts it again when the
    guard asks it to while the resource is still served, or drops it once it is not."""

    async def watch(*, resource: references.Resource, namespace: str | None, **kwargs: Any) -> None:
        try:
            await watcher(resource=resource, namespace=namespace, **kwargs)
        except errors.APINotFoundError:
            log.warning(
                "the watch of %r in %s answered 404 Not Found (its CRD deleted?)", resource, namespace
            )
            # Nothing will be listed by this watch: release its hold on the indexes, as Kopf
            # does after a listing, or every handler would wait for it for good.
            indexed, toggle = kwargs.get("operator_indexed"), kwargs.get("resource_indexed")
            if indexed is not None and toggle is not None:
                await indexed.drop_toggle(toggle)

    setattr(watch, "tolerant", True)  # noqa: B010  - marks the wrapper, so it is applied once
    return watch


def tolerate_vanishing_resources() -> None:
    """Install `tolerant` for every watch Kopf starts (kopf/_core/reactor/orchestration.py
    calls `queueing.watcher` by its module attribute)."""
    if not getattr(queueing.watcher, "tolerant", False):
        queueing.watcher = tolerant(queueing.watcher)


class BlindFor:
    """How long the operator has been continuously not ready; the deadline it exits at."""

    def __init__(self, exit_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.exit_after = exit_after
        self.clock = clock
        self.since: float | None = None

    def observe(self, ready: bool) -> float:
        """Seconds not ready so far (0 when ready)."""
        now = self.clock()
        if ready:
            self.since = None
            return 0.0
        if self.since is None:
            self.since = now
        return now - self.since

    def expired(self, seconds: float) -> bool:
        return self.exit_after > 0 and seconds >= self.exit_after


class WatchGuard:
    """Owns the operator's view of its watches: Kopf's insights, re-resolved when incomplete."""

    def __init__(
        self,
        insights: references.Insights,
        settings: kopf.OperatorSettings,
        readiness: Readiness,
        exit_after: float,
        period: float = 2.0,
        probe_timeout: float = 5.0,
    ) -> None:
        self.insights = insights
        self.settings = settings
        self.readiness = readiness
        self.blind = BlindFor(exit_after)
        self.period = period
        self.probe_timeout = probe_timeout
        self.rescans = 0
        self.failed_rescans, self.next_rescan = 0, 0.0

    async def run(self) -> None:
        # Kopf's own first scan comes first (it starts after the startup handlers); if it hangs
        # on an API server that is away, the guard goes on without it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.insights.ready_resources.wait(), timeout=5 * self.period)
        while True:
            try:
                await self.round()
            except Exception:  # a bug here must not freeze readiness: say it, and go on checking
                log.exception("the watch guard's check failed")
                self.report({"operator": "the watch guard's check failed (see the log)"})
            await asyncio.sleep(self.period)

    async def round(self) -> None:
        found = await self.check()
        if unresolved(found) and time.monotonic() >= self.next_rescan:
            await self.rescan()
            found = await self.check()
            self.failed_rescans = self.failed_rescans + 1 if unresolved(found) else 0
            self.next_rescan = time.monotonic() + backoff_seconds(self.failed_rescans, 1.0, 15.0)
        if any(why.startswith(NO_WATCH) for why in found.values()):
            await self.nudge()
        self.report(found)
        seconds = self.blind.observe(not found)
        if self.blind.expired(seconds):
            self.exit(found, seconds)

    async def check(self) -> dict[str, str]:
        api_error = await self.probe_api()
        live = {task.get_name() for task in asyncio.all_tasks() if not task.done()}
        return problems(NEEDED, self.insights.watched_resources, self.insights.namespaces, live, api_error)

    async def probe_api(self) -> str | None:
        """One GET /version through Kopf's own client and credentials: one attempt, no retries
        (Kopf's retries would log an error every probe while the API server is away)."""
        timeout = aiohttp.ClientTimeout(total=self.probe_timeout)
        try:
            response = await api.request(
                "get", "/version", settings=self.settings, backoffs=[], timeout=timeout, logger=_silent
            )
            response.close()
        except Exception as exc:  # any failure means "not answering"; reported as is
            return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        return None

    async def rescan(self) -> None:
        """Kopf's own discovery scan and revision of what it serves, as after a CRD event."""
        self.rescans += 1
        try:
            resources = await asyncio.wait_for(
                scanning.scan_resources(settings=self.settings, logger=log, groups={API_GROUP, ""}),
                timeout=30,
            )
        except Exception as exc:
            log.warning("re-resolving the watched resources failed: %s", exc)
            return
        registry = registries.get_default_registry()
        async with self.insights.revised:
            for group in sorted({n.group for n in NEEDED}):
                in_group = [r for r in resources if r.group == group]
                if not improves(group, self.insights.watched_resources, in_group):
                    continue
                observation.revise_resources(
                    resources=in_group, insights=self.insights, registry=registry, group=group
                )
            await self.insights.backbone.fill(resources=resources)
            self.insights.revised.notify_all()
        log.info("re-resolved the watched resources (rescan %d)", self.rescans)

    async def nudge(self) -> None:
        """Wake Kopf's orchestrator: it starts every watch of a served resource that is missing
        (one ended by a 404, see `tolerant`)."""
        async with self.insights.revised:
            self.insights.revised.notify_all()

    def report(self, found: dict[str, str]) -> None:
        changed = self.readiness.set_leading(found)
        READY.set(0 if found else 1)
        for item in NEEDED:
            WATCH_READY.labels(resource=str(item)).set(0 if str(item) in found else 1)
        if changed:
            if found:
                log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in sorted(found.items())))
            else:
                log.info("ready: watching %s", ", ".join(str(n) for n in NEEDED))

    def exit(self, found: dict[str, str], seconds: float) -> None:
        log.critical(
            "blind for %.0fs (PGO_BLIND_EXIT_SECONDS=%.0f): %s; exiting, to be restarted",
            seconds,
            self.blind.exit_after,
            "; ".join(f"{k}: {v}" for k, v in sorted(found.items())),
        )
        logging.shutdown()
        sys.stderr.flush()
        os._exit(3)
