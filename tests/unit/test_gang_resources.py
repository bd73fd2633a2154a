"""core.resources: a pod's effective requests, as kube-scheduler's NodeResourcesFit computes them
(k8s.io/component-helpers/resource PodRequests: sidecar-aware init containers, pod-level
requests, overhead), plus the one pod slot the pod takes on its node."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from podgroup_operator.core.quantity import parse_quantity
from podgroup_operator.core.resources import pod_requests

Spec = dict[str, Any]


def ctr(
    name: str,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    *,
    restart: str | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": "busybox:1.36"}
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}
    if resources:
        container["resources"] = resources
    if restart is not None:
        container["restartPolicy"] = restart
    return container


def sidecar(name: str, requests: dict[str, str]) -> dict[str, Any]:
    return ctr(name, requests, restart="Always")


def want(**quantities: str) -> dict[str, Decimal]:
    """Expected requests, plus the pod slot; ephemeral_storage stands for ephemeral-storage."""
    out = {k.replace("_", "-"): parse_quantity(v) for k, v in quantities.items()}
    out["pods"] = Decimal(1)
    return out


CASES: list[tuple[str, Spec, dict[str, Decimal]]] = [
    ("no containers", {}, want()),
    ("best effort", {"containers": [ctr("app")]}, want()),
    (
        "one container",
        {"containers": [ctr("app", {"cpu": "500m", "memory": "64Mi"})]},
        want(cpu="500m", memory="64Mi"),
    ),
    (
        "sum of containers",
        {
            "containers": [
                ctr("a", {"cpu": "100m", "memory": "64Mi"}),
                ctr("b", {"cpu": "200m", "memory": "128Mi"}),
                ctr("c", {"cpu": "1"}),
            ]
        },
        want(cpu="1300m", memory="192Mi"),
    ),
    (
        "limits only: requests = limits",
        {"containers": [ctr("app", limits={"cpu": "2", "memory": "1Gi"})]},
        want(cpu="2", memory="1Gi"),
    ),
    (
        "request set, limit of another resource only",
        {"containers": [ctr("app", {"cpu": "100m"}, {"cpu": "1", "memory": "1Gi"})]},
        want(cpu="100m", memory="1Gi"),
    ),
    (
        "extended resource by limit",
        {"containers": [ctr("app", {"cpu": "1"}, {"nvidia.com/gpu": "2"})]},
        {"cpu": Decimal(1), "nvidia.com/gpu": Decimal(2), "pods": Decimal(1)},
    ),
    (
        "ephemeral storage",
        {"containers": [ctr("a", {"ephemeral-storage": "1Gi"}), ctr("b", {"ephemeral-storage": "1Gi"})]},
        want(ephemeral_storage="2Gi"),
    ),
    (
        "init container larger than the sum, per resource",
        {
            "initContainers": [ctr("init", {"cpu": "2", "memory": "64Mi"})],
            "containers": [ctr("a", {"cpu": "500m", "memory": "128Mi"}), ctr("b", {"cpu": "500m"})],
        },
        want(cpu="2", memory="128Mi"),
    ),
    (
        "init containers: the largest, not their sum",
        {
            "initContainers": [ctr("i1", {"cpu": "1"}), ctr("i2", {"cpu": "1500m"}), ctr("i3", {"cpu": "1"})],
            "containers": [ctr("a", {"cpu": "100m"})],
        },
        want(cpu="1500m"),
    ),
    (
        # The worked example in kube-scheduler's computePodResourceRequest doc comment.
        "upstream example",
        {
            "initContainers": [
                ctr("ic1", {"cpu": "2", "memory": "1G"}),
                ctr("ic2", {"cpu": "2", "memory": "3G"}),
            ],
            "containers": [ctr("c1", {"cpu": "2", "memory": "1G"}), ctr("c2", {"cpu": "1", "memory": "1G"})],
        },
        want(cpu="3", memory="3G"),
    ),
    (
        "init container with only limits",
        {"initContainers": [ctr("init", limits={"cpu": "3"})], "containers": [ctr("a", {"cpu": "1"})]},
        want(cpu="3"),
    ),
    (
        "sidecar adds to the sum",
        {
            "initContainers": [sidecar("proxy", {"cpu": "100m", "memory": "32Mi"})],
            "containers": [ctr("app", {"cpu": "1", "memory": "1Gi"})],
        },
        want(cpu="1100m", memory="1056Mi"),
    ),
    (
        "sidecar started before an init container adds to it",
        {
            "initContainers": [sidecar("proxy", {"cpu": "500m"}), ctr("init", {"cpu": "1"})],
            "containers": [ctr("app", {"cpu": "200m"})],
        },
        want(cpu="1500m"),
    ),
    (
        "sidecar started after an init container does not add to it",
        {
            "initContainers": [ctr("init", {"cpu": "1"}), sidecar("proxy", {"cpu": "500m"})],
            "containers": [ctr("app", {"cpu": "200m"})],
        },
        want(cpu="1"),
    ),
    (
        "sidecars accumulate along the init sequence",
        {
            "initContainers": [
                sidecar("s1", {"cpu": "100m"}),
                ctr("i1", {"cpu": "1"}),
                sidecar("s2", {"cpu": "200m"}),
                ctr("i2", {"cpu": "1"}),
            ],
            "containers": [ctr("app", {"cpu": "100m"})],
        },
        want(cpu="1300m"),
    ),
    (
        "sidecar adds resources an init container does not name",
        {
            "initContainers": [sidecar("s", {"memory": "1Gi"}), ctr("init", {"cpu": "2"})],
            "containers": [ctr("app", {"cpu": "100m", "memory": "64Mi"})],
        },
        want(cpu="2", memory="1088Mi"),
    ),
    (
        "restartPolicy other than Always is a plain init container",
        {
            "initContainers": [ctr("init", {"cpu": "1"}, restart="Never")],
            "containers": [ctr("app", {"cpu": "200m"})],
        },
        want(cpu="1"),
    ),
    (
        "pod-level requests win where set",
        {
            "resources": {"requests": {"cpu": "4"}},
            "containers": [ctr("a", {"cpu": "1", "memory": "1Gi"}), ctr("b", {"cpu": "1"})],
        },
        want(cpu="4", memory="1Gi"),
    ),
    (
        "pod-level requests win over init containers too",
        {
            "resources": {"requests": {"cpu": "2", "memory": "2Gi"}},
            "initContainers": [ctr("init", {"cpu": "3"})],
            "containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})],
        },
        want(cpu="2", memory="2Gi"),
    ),
    (
        "pod-level limits alone change nothing (the API server defaults requests from them)",
        {"resources": {"limits": {"cpu": "8"}}, "containers": [ctr("a", {"cpu": "1"})]},
        want(cpu="1"),
    ),
    (
        "overhead added to the containers",
        {
            "overhead": {"cpu": "250m", "memory": "120Mi"},
            "containers": [ctr("a", {"cpu": "1", "memory": "1Gi"})],
        },
        want(cpu="1250m", memory="1144Mi"),
    ),
    (
        "overhead added to the init peak",
        {
            "overhead": {"cpu": "250m"},
            "initContainers": [ctr("init", {"cpu": "2"})],
            "containers": [ctr("a", {"cpu": "1"})],
        },
        want(cpu="2250m"),
    ),
    (
        "overhead added to pod-level requests",
        {
            "overhead": {"cpu": "250m", "memory": "120Mi"},
            "resources": {"requests": {"cpu": "2", "memory": "1Gi"}},
            "containers": [ctr("a", {"cpu": "1"})],
        },
        want(cpu="2250m", memory="1144Mi"),
    ),
    (
        "overhead of a resource no container asks for",
        {"overhead": {"memory": "100Mi"}, "containers": [ctr("a", {"cpu": "1"})]},
        want(cpu="1", memory="100Mi"),
    ),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_pod_requests(spec: Spec, expected: dict[str, Decimal]) -> None:
    assert pod_requests(spec) == expected


def test_pod_requests_always_one_pod() -> None:
    for spec in (c[1] for c in CASES):
        assert pod_requests(spec)["pods"] == 1


def test_pod_requests_does_not_change_the_spec() -> None:
    spec: Spec = {
        "initContainers": [sidecar("s", {"cpu": "1"})],
        "containers": [ctr("a", limits={"cpu": "1"})],
        "overhead": {"cpu": "1"},
    }
    before = repr(spec)
    pod_requests(spec)
    assert repr(spec) == before


def test_pod_requests_refuses_a_malformed_quantity() -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        pod_requests({"containers": [ctr("a", {"cpu": "lots"})]})


# --- agreement with upstream on random pods --------------------------------------------------


def _upstream(spec: Spec) -> dict[str, Decimal]:
    """A literal transcription of k8s.io/component-helpers/resource PodRequests (pod-level
    resources enabled, container requests already defaulted from limits by the API server)."""

    def requests_of(c: dict[str, Any]) -> dict[str, Decimal]:
        res = c.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}  # API server defaulting
        return {k: parse_quantity(v) for k, v in merged.items()}

    def add(dst: dict[str, Decimal], src: dict[str, Decimal]) -> None:
        for k, v in src.items():
            dst[k] = dst.get(k, Decimal(0)) + v

    def maximum(dst: dict[str, Decimal], src: dict[str, Decimal]) -> None:
        for k, v in src.items():
            dst[k] = max(dst.get(k, v), v)

    reqs: dict[str, Decimal] = {}
    for c in spec.get("containers") or []:
        add(reqs, requests_of(c))
    restartable: dict[str, Decimal] = {}
    init: dict[str, Decimal] = {}
    for c in spec.get("initContainers") or []:
        creq = requests_of(c)
        if c.get("restartPolicy") == "Always":
            add(reqs, creq)
            add(restartable, creq)
            creq = dict(restartable)
        else:
            tmp: dict[str, Decimal] = {}
            add(tmp, creq)
            add(tmp, restartable)
            creq = tmp
        maximum(init, creq)
    maximum(reqs, init)
    pod_level = (spec.get("resources") or {}).get("requests") or {}
    for k, v in pod_level.items():
        if k in ("cpu", "memory") or k.startswith("hugepages-"):
            reqs[k] = parse_quantity(v)
    add(reqs, {k: parse_quantity(v) for k, v in (spec.get("overhead") or {}).items()})
    return reqs


def _random_requests(rng: random.Random) -> dict[str, str]:
    out = {}
    if rng.random() < 0.8:
        out["cpu"] = f"{rng.randrange(0, 4000, 50)}m"
    if rng.random() < 0.8:
        out["memory"] = f"{rng.randrange(0, 4096, 16)}Mi"
    if rng.random() < 0.1:
        out["nvidia.com/gpu"] = str(rng.randint(1, 4))
    return out


def _random_container(rng: random.Random, name: str, *, init: bool) -> dict[str, Any]:
    requests = _random_requests(rng) if rng.random() < 0.8 else None
    limits = _random_requests(rng) if rng.random() < 0.3 else None
    restart = "Always" if init and rng.random() < 0.4 else None
    return ctr(name, requests, limits, restart=restart)


@pytest.mark.parametrize("seed", range(200))
def test_pod_requests_agrees_with_upstream(seed: int) -> None:
    rng = random.Random(seed)
    spec: Spec = {
        "initContainers": [_random_container(rng, f"i{n}", init=True) for n in range(rng.randint(0, 4))],
        "containers": [_random_container(rng, f"c{n}", init=False) for n in range(rng.randint(1, 4))],
    }
    if rng.random() < 0.2:
        spec["overhead"] = _random_requests(rng)
    if rng.random() < 0.2:
        spec["resources"] = {
            "requests": {k: v for k, v in _random_requests(rng).items() if k != "nvidia.com/gpu"}
        }
    expected = {**_upstream(spec), "pods": Decimal(1)}
    assert pod_requests(spec) == expected
