"""What a pod asks of a node: its effective requests, as the scheduler computes them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from podgroup_operator.core.quantity import parse_quantity

Resources = dict[str, Decimal]
Q = TypeVar("Q")  # a quantity, as written (str) or parsed (Decimal)


def defaulted_requests(requests: Mapping[str, Q], limits: Mapping[str, Q]) -> dict[str, Q]:
    """The API server's defaulting: a resource with a limit and no request is requested at its limit."""
    return {**limits, **requests}


def _requests(container: Mapping[str, Any]) -> Resources:
    res = container.get("resources") or {}
    merged = defaulted_requests(res.get("requests") or {}, res.get("limits") or {})
    return {name: parse_quantity(q) for name, q in merged.items()}


def _add(total: Resources, extra: Mapping[str, Decimal]) -> None:
    for name, q in extra.items():
        total[name] = total.get(name, Decimal(0)) + q


def pod_requests(spec: Mapping[str, Any]) -> Resources:
    """Effective requests: max(sum of app containers + sidecars, each init container + the
    sidecars started before it) + overhead; pod-level requests win where set. Plus one pod."""
    total: Resources = defaultdict(Decimal)
    sidecars: Resources = defaultdict(Decimal)
    init_peak: Resources = defaultdict(Decimal)
    for init in spec.get("initContainers") or []:
        req = _requests(init)
        if init.get("restartPolicy") == "Always":
            _add(sidecars, req)
            continue
        for name, q in req.items():
            init_peak[name] = max(init_peak[name], q + sidecars.get(name, Decimal(0)))
    for container in spec.get("containers") or []:
        _add(total, _requests(container))
    _add(total, sidecars)
    for name, q in init_peak.items():
        total[name] = max(total[name], q)
    pod_level = (spec.get("resources") or {}).get("requests") or {}
    for name, q in pod_level.items():
        total[name] = parse_quantity(q)
    _add(total, {n: parse_quantity(q) for n, q in (spec.get("overhead") or {}).items()})
    total["pods"] = Decimal(1)
    return dict(total)
