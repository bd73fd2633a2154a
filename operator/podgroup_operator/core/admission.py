"""What one gang admission pass decides around the planner (core/gang.py): the room members
released by this process still hold while the index shows them gated, which gangs ask to be
planned, and how a released member is pinned to its planned node. handlers/admission.py takes
the snapshot, asks these and the planner, and writes the releases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from podgroup_operator.core.gang import GangRequest, GroupKey
from podgroup_operator.core.gang_state import backing_off, gang_request, waiting_since
from podgroup_operator.core.observed import ObservedGroup, ObservedPod
from podgroup_operator.core.placement import HOSTNAME_LABEL

Usage = dict[str, Decimal]


@dataclass(frozen=True)
class BackingOff:
    """The gang rolled back and may be planned again in `seconds`."""

    seconds: float


def pending_releases(reserved: Mapping[str, str], pods: Iterable[ObservedPod]) -> dict[str, str]:
    """Of the members this process released (member -> node), those the index still shows at
    the gang gate: their room stays reserved. Once none is, the index counts them itself."""
    gated = {p.name for p in pods if p.gang_gated}
    return {member: node for member, node in reserved.items() if member in gated}


def node_usage(
    node_pods: Mapping[str, Iterable[Mapping[str, Decimal]]],
    reserved: Iterable[tuple[str, Mapping[str, Decimal]]],
) -> dict[str, Usage]:
    """Per node, what its pods request plus the (node, requests) reservations of members released
    but not yet shown released."""
    used: dict[str, Usage] = {}

    def add(node: str, requests: Mapping[str, Decimal]) -> None:
        total = used.setdefault(node, {})
        for name, q in requests.items():
            total[name] = total.get(name, Decimal(0)) + q

    for node, store in node_pods.items():
        for requests in store:
            add(node, requests)
    for node, requests in reserved:
        add(node, requests)
    return used


def admission_request(
    key: GroupKey,
    group: ObservedGroup | None,
    pods: list[ObservedPod],
    reserved: Mapping[str, str],
    now: datetime,
) -> GangRequest | BackingOff | None:
    """What this group asks of the pass: to be planned, to wait out its backoff, or nothing (no
    member at the gate, the group gone or unreadable, or released and not yet shown so)."""
    if not any(p.active and p.gang_gated for p in pods):
        return None  # most groups, most of the time: nothing waits at the gate
    if group is None or group.deleting or group.spec is None or reserved:
        return None
    record = group.status.gang if group.status else None
    wait = backing_off(record, now)
    if wait is not None:
        return BackingOff(wait)
    return gang_request(key, group.spec, pods, waiting_since(group.created, record))


def release_pin(pod: ObservedPod, node_hostname: str | None) -> str | None:
    """The hostname a released member is pinned to: its planned node's, unless the pod names a
    hostname already (it is placed by that, and the API server refuses a second key)."""
    return None if HOSTNAME_LABEL in pod.constraints.node_selector else node_hostname
