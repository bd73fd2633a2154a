"""What must hold after every fault, read from the cluster's own state.

A checker returns the list of what does not hold (empty = converged); a trial polls it until it
is empty or a deadline passes, so the convergence time is measured the same way for every fault."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from tests.e2e.podgroups import PodGroups

GANG_GATE = "podgroup.dev/gang"
GENERATION_ANNOTATION = "podgroup.dev/restart-generation"
ADMITTED_AT_ANNOTATION = "podgroup.dev/admitted-at"


@dataclass
class Expected:
    """One group as it must end: its member names, and how many group restarts it has seen."""

    name: str
    members: list[str]
    restart_generation: int = 0
    restarts: int = 0
    # Members that existed before the fault and must still be the same pods (uid), with
    # their admission record unchanged when they had been released already.
    kept: dict[str, client.V1Pod] = field(default_factory=dict)
    # What else this fault must leave true of the group's pods (e.g. restart counts).
    check: Callable[[list[client.V1Pod]], list[str]] | None = None
    # False where the fault itself leaves pods unready for reasons outside the operator (see
    # test_node_lost.py): the status must still say what the pods say.
    ready: bool = True


def _gates(pod: client.V1Pod) -> list[str]:
    return [g.name for g in pod.spec.scheduling_gates or []]


def _ready(pod: client.V1Pod) -> bool:
    """The pod's own Ready condition: what the operator counts, and what Services use."""
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def violations(groups: PodGroups, want: Expected) -> list[str]:
    found: list[str] = []
    try:
        group = groups.get(want.name)
    except client.ApiException as exc:
        return [f"{want.name}: cannot read the group ({exc.status})"]
    pods = groups.pods(want.name)
    names = [p.metadata.name for p in pods]
    # No lost member, no extra one (names are unique, so an extra one is a duplicate member).
    if missing := sorted(set(want.members) - set(names)):
        found.append(f"{want.name}: lost members {missing}")
    if extra := sorted(set(names) - set(want.members)):
        found.append(f"{want.name}: unexpected pods {extra}")
    for pod in pods:
        name = pod.metadata.name
        if pod.metadata.deletion_timestamp:
            found.append(f"{name}: being deleted")
        if GANG_GATE in _gates(pod):
            found.append(f"{name}: gang gate left behind")
        if not pod.spec.node_name:
            found.append(f"{name}: not bound")
        elif want.ready and not _ready(pod):
            found.append(f"{name}: not ready ({pod.status.phase})")
        elif pod.status.phase != "Running":
            found.append(f"{name}: {pod.status.phase}")
        generation = (pod.metadata.annotations or {}).get(GENERATION_ANNOTATION, "0")
        if generation != str(want.restart_generation):
            found.append(f"{name}: restart generation {generation}, want {want.restart_generation}")
        if finalizers := [f for f in pod.metadata.finalizers or [] if f.startswith("podgroup.dev")]:
            found.append(f"{name}: finalizers {finalizers}")
        before = want.kept.get(name)
        if before is not None:
            if pod.metadata.uid != before.metadata.uid:
                found.append(f"{name}: recreated (uid changed)")
            released = (before.metadata.annotations or {}).get(ADMITTED_AT_ANNOTATION)
            now = (pod.metadata.annotations or {}).get(ADMITTED_AT_ANNOTATION)
            if released and now != released:
                found.append(f"{name}: released twice (admitted-at {released} -> {now})")
    found += _status_violations(group, pods, want)
    if want.check is not None and not found:
        found += want.check(pods)
    return found


def _status_violations(group: dict[str, Any], pods: list[client.V1Pod], want: Expected) -> list[str]:
    """The status says what the pods say."""
    status = group.get("status") or {}
    found = []
    n, ready = len(want.members), sum(_ready(p) for p in pods)
    if status.get("observedGeneration") != group["metadata"]["generation"]:
        found.append(f"{want.name}: observedGeneration {status.get('observedGeneration')}")
    if status.get("readyMembers") != f"{ready}/{n}" or (want.ready and ready != n):
        found.append(f"{want.name}: readyMembers {status.get('readyMembers')}, pods say {ready}/{n}")
    if want.ready and status.get("phase") != "Running":
        found.append(f"{want.name}: phase {status.get('phase')}")
    if (status.get("restartGeneration") or 0) != want.restart_generation:
        found.append(f"{want.name}: restartGeneration {status.get('restartGeneration')}")
    if (status.get("restarts") or 0) != want.restarts:
        found.append(f"{want.name}: restarts {status.get('restarts')}, want {want.restarts}")
    if finalizers := [f for f in group["metadata"].get("finalizers") or [] if f.startswith("podgroup.dev")]:
        found.append(f"{want.name}: finalizers {finalizers}")
    return found


def converge(groups: PodGroups, wanted: list[Expected], timeout: float) -> tuple[float | None, list[str]]:
    """Seconds until every invariant holds for every group (None: not within timeout), and
    what still did not hold at the end."""
    start = time.monotonic()
    last: list[str] = []
    while time.monotonic() - start < timeout:
        try:
            last = [v for want in wanted for v in violations(groups, want)]
        except client.ApiException as exc:  # the API server itself may still be coming back
            last = [f"API error {exc.status}"]
        except Exception as exc:  # connection refused while a component restarts
            last = [f"API unreachable: {type(exc).__name__}"]
        if not last:
            return time.monotonic() - start, []
        time.sleep(0.5)
    return None, last


def deleted_cleanly(groups: PodGroups, names: list[str], timeout: float = 90) -> list[str]:
    """Delete the groups; they and their pods must go (no stuck finalizer, GC through owners)."""
    for name in names:
        try:
            groups.delete(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    deadline = time.monotonic() + timeout
    left: list[str] = []
    while time.monotonic() < deadline:
        listed = groups.custom.list_namespaced_custom_object(
            "podgroup.dev", "v1alpha1", groups.namespace, "podgroups"
        )["items"]
        left = [g["metadata"]["name"] for g in listed if g["metadata"]["name"] in names]
        left += [p.metadata.name for n in names for p in groups.pods(n)]
        if not left:
            return []
        time.sleep(0.5)
    return [f"not gone {timeout}s after delete: {left}"]
