"""The work a fault lands on: gangs of kwok pods on a node pool of the test's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from kubernetes import client
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup, role

T = TypeVar("T")


def members(name: str, size: int) -> list[str]:
    return [f"{name}-w-{i}" for i in range(size)]


def pool_role(pool: NodePool, replicas: int, cpu: str = "500m") -> dict:
    body = role("w", replicas, cpu=cpu)
    body["template"]["spec"]["nodeSelector"] = pool.selector
    return body


def create_gangs(groups: PodGroups, pool: NodePool, names: list[str], size: int) -> None:
    for name in names:
        groups.create(podgroup(name, pool_role(pool, size)))


def by_group(groups: PodGroups, names: list[str]) -> dict[str, dict[str, client.V1Pod]]:
    return {n: {p.metadata.name: p for p in groups.pods(n)} for n in names}


def retrying(action: Callable[[], T], timeout: float = 120) -> T:
    """An API call made while the control plane may still be coming back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
