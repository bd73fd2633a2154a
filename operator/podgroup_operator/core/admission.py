"""What one gang admission pass decides around the planner (core/gang.py): the room members
released or placed by this process still hold while the index does not show it, which gangs ask
to be planned, how a released member is pinned to its planned node, and what a gang asks when
it is planned from its templates, before its members exist (placed at creation: created
released, with no gate to lift). handlers/admission.py takes the snapshot, asks these and the
planner, and writes the releases."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from podgroup_operator.api.models import PodGroupSpec, PodGroupStatus
from podgroup_operator.core.gang import GangRequest, GroupKey
from podgroup_operator.core.gang_state import backing_off, gang_request, waiting_since
from podgroup_operator.core.labels import (
    ADMITTED_AT_ANNOTATION,
    GANG_GATE,
    PLANNED_NODE_ANNOTATION,
    TOPOLOGY_DOMAIN_ANNOTATION,
)
from podgroup_operator.core.observed import ObservedGroup, ObservedPod, observe_pod
from podgroup_operator.core.placement import HOSTNAME_LABEL
from podgroup_operator.core.resources import Resources
from podgroup_operator.core.writes import PodCreate

Usage = dict[str, Decimal]

# How long a member placed at creation holds its room while the index does not show it: the
# watch shows a created pod within seconds; one that never shows (deleted at once) lets go.
PLACED_HOLD = timedelta(seconds=60)


@dataclass(frozen=True)
class Placed:
    """A member created already released (placed at creation), not yet in the pod index."""

    node: str
    requests: Resources
    until: datetime  # holds its room no longer than this


@dataclass(frozen=True)
class BackingOff:
    """The gang rolled back and may be planned again in `seconds`."""

    seconds: float


def pending_releases(reserved: Mapping[str, str], pods: Iterable[ObservedPod]) -> dict[str, str]:
    """Of the members this process released (member -> node), those the index still shows at
    the gang gate: their room stays reserved. Once none is, the index counts them itself."""
    gated = {p.name for p in pods if p.gang_gated}
    return {member: node for member, node in reserved.items() if member in gated}


@dataclass(frozen=True)
class Placement:
    """A gang placed at creation: member -> (node, the node's hostname), decided at `decided`."""

    nodes: Mapping[str, tuple[str, str | None]]
    decided: datetime
    domain: str = ""


def pending_placements(
    placed: Mapping[str, Placed], indexed: Iterable[str], now: datetime
) -> dict[str, Placed]:
    """Of the members placed at creation, those the index does not show yet: their room stays
    reserved. Once shown, the pod index counts their planned node itself (observed.node_usage)."""
    shown = set(indexed)
    return {m: p for m, p in placed.items() if m not in shown and now < p.until}


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
    settling: bool,
    now: datetime,
) -> GangRequest | BackingOff | None:
    """What this group asks of the pass: to be planned, to wait out its backoff, or nothing (no
    member at the gate, the group gone or unreadable, or `settling`: members released or placed
    by this process that the index does not show so yet)."""
    if not any(p.active and p.gang_gated for p in pods):
        return None  # most groups, most of the time: nothing waits at the gate
    if group is None or group.deleting or group.spec is None or settling:
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


def placement_request(
    key: GroupKey,
    spec: PodGroupSpec,
    status: PodGroupStatus | None,
    creates: Sequence[PodCreate],
    now: datetime,
) -> GangRequest | None:
    """What a group whose members are all about to be created asks of the next pass, planned from
    the bodies it would create (gated): None while it backs off after a rollback. The caller
    asks only for a group with no member yet and every member in this batch."""
    if backing_off(status.gang if status else None, now) is not None:
        return None
    return gang_request(key, spec, [observe_pod(c.body) for c in creates], now)


def admission_annotations(node: str, admitted_at: datetime, topology_domain: str = "") -> dict[str, str]:
    """What a released member carries: when it was admitted, where to, in which domain."""
    out = {
        ADMITTED_AT_ANNOTATION: admitted_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        PLANNED_NODE_ANNOTATION: node,
    }
    if topology_domain:
        out[TOPOLOGY_DOMAIN_ANNOTATION] = topology_domain
    return out


def released_body(
    body: Mapping[str, Any], node: str, node_hostname: str | None, admitted_at: datetime, topology_domain: str
) -> dict[str, Any]:
    """A gated member's body as its release would leave it: the gang gate gone (other gates
    kept), pinned to its planned node, the admission recorded, so that it is created released."""
    out = copy.deepcopy(dict(body))
    metadata, spec = out.setdefault("metadata", {}), out.setdefault("spec", {})
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        **admission_annotations(node, admitted_at, topology_domain),
    }
    gates = [g for g in spec.get("schedulingGates") or [] if g.get("name") != GANG_GATE]
    if gates:
        spec["schedulingGates"] = gates
    else:
        spec.pop("schedulingGates", None)
    selector = spec.get("nodeSelector") or {}
    if node_hostname is not None and HOSTNAME_LABEL not in selector:
        spec["nodeSelector"] = {**selector, HOSTNAME_LABEL: node_hostname}
    return out


def placed_creates(creates: Sequence[PodCreate], placement: Placement) -> tuple[PodCreate, ...]:
    """The creates of a gang placed at creation: its placed members created released."""
    out = []
    for c in creates:
        if c.member in placement.nodes:
            node, hostname = placement.nodes[c.member]
            c = PodCreate(
                c.member, released_body(c.body, node, hostname, placement.decided, placement.domain)
            )
        out.append(c)
    return tuple(out)
