"""The watch guard's decisions (runtime/watches.py) and the /readyz endpoint (runtime/readiness.py):
what counts as watching, when the operator gives up, what a probe reads. No API server."""

from __future__ import annotations

import asyncio
import inspect
import io
import json
from typing import Any

import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import errors
from kopf._cogs.structs.references import Resource
from kopf._core.reactor import orchestration, queueing

from podgroup_operator.runtime.readiness import Readiness, readyz_app
from podgroup_operator.runtime.watches import (
    NEEDED,
    NOT_SERVED,
    BlindFor,
    improves,
    problems,
    tolerant,
    tolerate_vanishing_resources,
    unresolved,
    watcher_names,
)

PODGROUPS = Resource("podgroup.dev", "v1alpha1", "podgroups", namespaced=True)
PODS = Resource("", "v1", "pods", namespaced=True)
NODES = Resource("", "v1", "nodes", namespaced=False)
ALL = {PODGROUPS, PODS, NODES}


def tasks_for(resources: set[Resource], namespaces: list[str | None]) -> set[str]:
    return {name for r in resources for name in watcher_names(r, namespaces)}


def test_kopf_names_its_watch_tasks_as_the_guard_expects() -> None:
    """The guard finds Kopf's watches by task name; this pins the pinned Kopf's naming."""
    source = inspect.getsource(orchestration.spawn_missing_watchers)
    assert 'what = f"{resource}@{namespace}"' in source
    assert 'name=f"watcher for {what}"' in source
    assert watcher_names(PODS, [None]) == ["watcher for pods.v1@None"]
    assert watcher_names(NODES, ["a", "b"]) == ["watcher for nodes.v1@None"]
    assert watcher_names(PODGROUPS, ["b", "a"]) == [
        "watcher for podgroups.v1alpha1.podgroup.dev@a",
        "watcher for podgroups.v1alpha1.podgroup.dev@b",
    ]


@pytest.mark.parametrize(
    ("watched", "namespaces", "running", "api_error", "expected"),
    [
        pytest.param(ALL, [None], tasks_for(ALL, [None]), None, {}, id="cluster-wide, all watched"),
        pytest.param(ALL, ["ns1", "ns2"], tasks_for(ALL, ["ns1", "ns2"]), None, {}, id="scoped, all watched"),
        pytest.param(
            {PODS, NODES},
            [None],
            tasks_for({PODS, NODES}, [None]),
            None,
            {"podgroups.podgroup.dev": NOT_SERVED},
            id="CRD not resolved (the blind start)",
        ),
        pytest.param(
            ALL,
            ["ns1", "ns2"],
            tasks_for(ALL, ["ns1"]),
            None,
            {
                "podgroups.podgroup.dev": "no watch running (watcher for podgroups.v1alpha1.podgroup.dev@ns2",
                "pods": "no watch running (watcher for pods.v1@ns2)",
            },
            id="a namespace without its watches",
        ),
        pytest.param(
            ALL,
            [],
            tasks_for({NODES}, [None]),
            None,
            {"podgroups.podgroup.dev": "no namespace to watch it in", "pods": "no namespace to watch it in"},
            id="scoped to namespaces that do not exist",
        ),
        pytest.param(
            ALL,
            [None],
            tasks_for(ALL, [None]),
            "ClientConnectorError: refused",
            {str(n): "the API server does not answer: ClientConnectorError: refused" for n in NEEDED},
            id="API server away",
        ),
        pytest.param(
            set(),
            [None],
            set(),
            None,
            {str(n): NOT_SERVED for n in NEEDED},
            id="nothing resolved yet",
        ),
    ],
)
def test_problems(
    watched: set[Resource],
    namespaces: list[str | None],
    running: set[str],
    api_error: str | None,
    expected: dict[str, str],
) -> None:
    found = problems(NEEDED, watched, namespaces, running, api_error)
    assert {k: v[: len(expected[k])] for k, v in found.items() if k in expected} == expected
    assert set(found) == set(expected)


def test_only_discovery_problems_ask_for_a_rescan() -> None:
    assert unresolved(problems(NEEDED, {PODS, NODES}, [None], tasks_for(ALL, [None]), None))
    assert not unresolved(problems(NEEDED, ALL, [None], set(), None))
    assert not unresolved(problems(NEEDED, set(), [None], set(), "timed out"))
    assert not unresolved({})


def test_blind_for_counts_continuous_unreadiness_only() -> None:
    now = [100.0]
    blind = BlindFor(exit_after=300, clock=lambda: now[0])
    assert blind.observe(False) == 0
    now[0] = 250
    assert blind.observe(False) == 150
    assert not blind.expired(150)
    now[0] = 260
    assert blind.observe(True) == 0  # ready again: the count starts over
    now[0] = 270
    assert blind.observe(False) == 0
    now[0] = 570
    assert blind.observe(False) == 300
    assert blind.expired(300)


def test_blind_exit_can_be_turned_off() -> None:
    assert not BlindFor(exit_after=0).expired(10**9)


def call(app: Any, path: str) -> tuple[str, Any]:
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": "", "wsgi.input": io.BytesIO()}
    body = b"".join(app(environ, start_response))
    return seen["status"], body


def metrics(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"metrics"]


def test_readyz_says_what_is_missing_until_every_watch_is_established() -> None:
    readiness = Readiness()
    app = readyz_app(readiness, metrics)
    status, body = call(app, "/readyz")
    assert status.startswith("503")
    assert json.loads(body)["notReady"] == {"operator": "starting: the watches are not checked yet"}

    assert readiness.set_leading({"podgroups.podgroup.dev": NOT_SERVED})
    status, body = call(app, "/readyz")
    assert status.startswith("503")
    assert json.loads(body) == {
        "ready": False,
        "role": "standalone",
        "notReady": {"podgroups.podgroup.dev": NOT_SERVED},
    }

    assert readiness.set_leading({})
    assert not readiness.set_leading({})  # unchanged: nothing to log again
    status, body = call(app, "/readyz")
    assert status.startswith("200")
    assert json.loads(body) == {"ready": True, "role": "standalone"}
    assert call(app, "/metrics") == ("200 OK", b"metrics")


def test_a_follower_is_ready_to_take_over_and_becomes_the_leader() -> None:
    readiness = Readiness()
    readiness.set_follower()
    assert readiness.snapshot() == (True, {"ready": True, "role": "follower"})
    readiness.set_leading({"pods": "no watch running"})
    assert readiness.snapshot()[1]["role"] == "leader"
    assert not readiness.snapshot()[0]


@pytest.mark.parametrize(
    ("group", "watched", "scanned", "revise"),
    [
        pytest.param("podgroup.dev", {PODS, NODES}, {PODGROUPS}, True, id="the CRD found"),
        pytest.param("podgroup.dev", ALL, {PODGROUPS}, False, id="nothing new"),
        pytest.param("", {PODGROUPS}, {PODS, NODES}, True, id="core found"),
        pytest.param("", {PODGROUPS, PODS}, {NODES}, False, id="a partial answer would drop pods"),
        pytest.param("", set(), set(), False, id="still nothing"),
    ],
)
def test_a_rescan_revises_a_group_only_when_it_resolves_more_and_loses_nothing(
    group: str, watched: set[Resource], scanned: set[Resource], revise: bool
) -> None:
    assert improves(group, watched, [r for r in scanned if r.group == group]) is revise


def test_a_404_ends_only_the_watch_other_errors_still_stop_the_operator() -> None:
    calls: list[tuple[Resource, str | None]] = []

    def raising(exc: BaseException | None) -> Any:
        async def watcher(*, resource: Resource, namespace: str | None, **_: Any) -> None:
            calls.append((resource, namespace))
            if exc is not None:
                raise exc

        return watcher

    not_found = errors.APINotFoundError({"message": "404 page not found"}, status=404, headers={})
    asyncio.run(tolerant(raising(not_found))(resource=PODGROUPS, namespace="ns", processor=None))
    asyncio.run(tolerant(raising(None))(resource=PODS, namespace=None))
    assert calls == [(PODGROUPS, "ns"), (PODS, None)]
    with pytest.raises(errors.APIForbiddenError):
        forbidden = errors.APIForbiddenError({"message": "forbidden"}, status=403, headers={})
        asyncio.run(tolerant(raising(forbidden))(resource=PODS, namespace=None))


def test_a_watch_ended_by_a_404_before_its_listing_does_not_hold_the_indexes() -> None:
    """Kopf runs no handler until every indexed watch has listed; a watch that will never list
    must let go, or the operator sits ready and does nothing (seen after a CRD re-creation)."""

    async def scenario() -> bool:
        operator_indexed = aiotoggles.ToggleSet(all)
        own = await operator_indexed.make_toggle(name="podgroups@ns")
        other = await operator_indexed.make_toggle(name="pods@ns")
        not_found = errors.APINotFoundError({"message": "404 page not found"}, status=404, headers={})

        async def watcher(**_: Any) -> None:
            raise not_found

        await tolerant(watcher)(
            resource=PODGROUPS, namespace="ns", operator_indexed=operator_indexed, resource_indexed=own
        )
        await operator_indexed.drop_toggle(other)  # the other watch lists as usual
        return operator_indexed.is_on()

    assert asyncio.run(scenario())


def test_the_tolerant_watcher_is_installed_once_where_kopf_calls_it() -> None:
    original = queueing.watcher
    try:
        tolerate_vanishing_resources()
        installed = queueing.watcher
        tolerate_vanishing_resources()
        assert queueing.watcher is installed and getattr(installed, "tolerant", False)
        assert "queueing.watcher(" in inspect.getsource(orchestration.spawn_missing_watchers)
    finally:
        queueing.watcher = original
