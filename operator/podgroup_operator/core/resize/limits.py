"""Limits kept proportional to requests, and quantities rounded and written as Kubernetes does."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from podgroup_operator.core.quantity import format_cpu, format_memory
from podgroup_operator.core.resize.units import CPU, MiB


def proportional_limits(
    requests: Mapping[str, Decimal], limits: Mapping[str, Decimal], new_requests: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """New limits keeping each limit's ratio to its request (VPA's proportional limits), for the
    resources in new_requests that have a limit now. A limit equal to its request stays equal, so
    a Guaranteed pod stays Guaranteed. CPU rounds up to a millicore, memory up to a byte."""
    out: dict[str, Decimal] = {}
    for r, new in new_requests.items():
        lim = limits.get(r)
        if lim is None:
            continue
        req = requests.get(r)
        if req is None or lim == req:
            out[r] = new  # no request means request == limit (the API server's default)
            continue
        if req <= 0:
            out[r] = max(lim, new)  # no ratio to keep
            continue
        scaled = new * lim / req
        quantum = Decimal("0.001") if r == CPU else Decimal(1)
        out[r] = max((scaled / quantum).to_integral_value(ROUND_CEILING) * quantum, new)
    return out


def format_quantity(resource: str, value: Decimal) -> str:
    return format_cpu(value) if resource == CPU else format_memory(value)


def format_resources(values: Mapping[str, Decimal]) -> dict[str, str]:
    """Quantities as Kubernetes writes them: CPU in cores or millicores, memory in bytes/Ki/Mi/Gi."""
    return {r: format_quantity(r, v) for r, v in sorted(values.items())}


def round_down(resource: str, value: Decimal) -> Decimal:
    """CPU down to a millicore, memory down to a MiB (for caps: never above what is available)."""
    quantum = Decimal("0.001") if resource == CPU else Decimal(MiB)
    return (value / quantum).to_integral_value(ROUND_FLOOR) * quantum
