"""The pods/resize patch of a planned resize."""

from __future__ import annotations

from typing import Any

from podgroup_operator.core.resize.limits import format_resources
from podgroup_operator.core.resize.plan import PodResize, ResourcePatch


def _resources(p: ResourcePatch) -> dict[str, dict[str, str]]:
    out = {"requests": format_resources(p.requests)}
    if p.limits:
        out["limits"] = format_resources(p.limits)
    return out


def resize_patch(resize: PodResize) -> dict[str, Any]:
    """The strategic-merge patch body for the pods/resize subresource: only the changed resources
    (containers merge by name, resource maps by key)."""
    spec: dict[str, Any] = {}
    if resize.containers:
        spec["containers"] = [
            {"name": name, "resources": _resources(p)} for name, p in sorted(resize.containers.items())
        ]
    if resize.pod_resources is not None:
        spec["resources"] = _resources(resize.pod_resources)
    return {"spec": spec}
