"""Watch events only enqueue the affected PodGroup; the reconcile does the work.

Async on purpose, here and in indexes.py: these handlers never block, and a sync handler
would cost a thread-pool hop per watch event."""

from __future__ import annotations

from typing import Any

import kopf

from podgroup_operator import API_GROUP, API_VERSION, PLURAL
from podgroup_operator.core.labels import GROUP_LABEL


@kopf.on.event(API_GROUP, API_VERSION, PLURAL)
async def podgroup_changed(namespace: str | None, name: str, type: str, memo: kopf.Memo, **_: Any) -> None:
    key = (namespace or "", name)
    if type == "DELETED":
        memo.ctx.queue.forget(key)
        memo.ctx.memory.forget(key)
    else:
        memo.ctx.queue.add(key)
    memo.admitter.poke()


@kopf.on.event("pods")
async def pod_changed(
    namespace: str | None, labels: kopf.Labels, status: kopf.Status, memo: kopf.Memo, **_: Any
) -> None:
    # Any pod that comes, goes or binds changes the room gangs have.
    memo.admitter.poke()
    if GROUP_LABEL not in labels:
        return
    key = (namespace or "", labels[GROUP_LABEL])
    if running_but_hurt(status):
        memo.ctx.queue.add(key)  # a failure: the failure policy acts without delay
    else:
        memo.ctx.queue.add_after(key, memo.ctx.config.pod_event_batch_seconds)


def running_but_hurt(status: kopf.Status) -> bool:
    """A running member with a container down: what a failure looks like as it happens."""
    return status.get("phase") == "Running" and any(
        not (cs.get("state") or {}).get("running") for cs in status.get("containerStatuses") or []
    )


@kopf.on.event("services")
async def service_changed(namespace: str | None, name: str, type: str, memo: kopf.Memo, **_: Any) -> None:
    """A group's Service named as the group, deleted (by a user, or a foreign one going away):
    the group looks again and creates its own. Services are named as their groups."""
    key = (namespace or "", name)
    memory = memo.ctx.memory.known(key)
    if type == "DELETED" and memory is not None and memory.service_problem is not None:
        memory.service_problem = None
        memo.ctx.queue.add(key)


@kopf.on.event("nodes")
async def node_changed(name: str, type: str, memo: kopf.Memo, **_: Any) -> None:
    memo.admitter.poke()
    if type == "DELETED":  # its members are lost: their groups' failure policies decide
        for key, store in list(memo.ctx.member_pods.items()):
            if any(p.node_name == name for p in store):
                memo.ctx.queue.add(key)
