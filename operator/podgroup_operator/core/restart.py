"""What an in-place restart writes on a pod: new image references for every container, the
failures it accounts for, and the group's restart generation."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from podgroup_operator.api.failure_policy import Action
from podgroup_operator.api.models import FailureRecord
from podgroup_operator.core.images import alternate_image
from podgroup_operator.core.labels import HANDLED_FAILURES_ANNOTATION, RESTART_GENERATION_ANNOTATION
from podgroup_operator.core.native_restart import RESTARTING_REASON
from podgroup_operator.core.observed import ObservedPod


@dataclass(frozen=True)
class PodRestart:
    pod: str
    uid: str
    images: Mapping[str, str]  # container -> image reference to switch to
    handled: Mapping[str, int]  # the pod's handled-failures map after the restart
    generation: int | None  # restart generation to record, for group restarts


@dataclass(frozen=True)
class NotRestartable:
    pod: str
    why: str


# How long after a container ends the kubelet may still be starting it again without back-off
# (it does within about a second; finishedAt is cut to the second). Its first back-off is 10 s,
# so a container still ended after this is backing off, and a switch now starts it at once.
KUBELET_RESTART_SECONDS = 5


@dataclass(frozen=True)
class KubeletRestarting:
    """A container of the pod has just ended and the kubelet may be starting it again. Switching
    its image now would race that start: the kubelet may start the old image first, and the
    switch then stops it once more, a restart no handled count can predict. The restart waits
    until the kubelet has started it, or is seen backing off."""

    pod: str
    container: str
    until: datetime


def _kubelet_restarting(pod: ObservedPod, now: datetime) -> KubeletRestarting | None:
    for c in pod.containers:
        t = c.termination or (None if c.running else c.last_termination)  # ended, or starting again
        if t is None or t.finished_at is None:
            continue
        if pod.restart_policy == "Always" or (pod.restart_policy == "OnFailure" and t.failed):
            until = t.finished_at + timedelta(seconds=KUBELET_RESTART_SECONDS)
            if now < until:
                return KubeletRestarting(pod.name, c.name, until)
    return None


def restart_in_place(
    pod: ObservedPod,
    template: Mapping[str, Any],
    *,
    generation: int | None,
    handled: Mapping[str, int],
    now: datetime,
) -> PodRestart | NotRestartable | KubeletRestarting:
    """Restart every container of the pod by switching each to a second reference of its image.

    The kubelet counts the restart it makes, so each container's handled count moves to its
    restart count + 1: that restart is the operator's own and must not read as a failure.
    """
    if pod.restart_policy == "Never":
        return NotRestartable(
            pod.name, "its restartPolicy is Never; in-place restarts need Always or OnFailure"
        )
    if (restarting := _kubelet_restarting(pod, now)) is not None:
        return restarting
    spec_images = {
        c.get("name"): c.get("image", "") for c in (template.get("spec") or {}).get("containers") or []
    }
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    images, new_handled = {}, dict(pod.handled) | dict(handled)
    for c in pod.containers:
        alt = alternate_image(
            c.name,
            c.image,
            spec_images.get(c.name, c.image),
            c.image_id,
            annotations,
            c.restart_count,
            pull_policy=c.pull_policy,
        )
        if alt is None:
            return NotRestartable(
                pod.name,
                f"no second reference to the image of container {c.name} is known (the runtime "
                "reports no digest under the spec's repository, as for images put in with `kind load`); "
                "name one in the podgroup.dev/restart-image.<container> annotation",
            )
        images[c.name] = alt
        key = f"c/{c.name}"
        new_handled[key] = max(new_handled.get(key, 0), c.restart_count + 1)
    return PodRestart(pod.name, pod.uid, images, new_handled, generation)


def native_handled(pod: ObservedPod) -> dict[str, int]:
    """The handled-failures map once the kubelet's RestartAllContainers is accounted for: every
    container restarts once, so each handled count moves to the restart count it ends at (its
    restart count now if the kubelet has already restarted it, else one more)."""
    out = dict(pod.handled)
    for c in pod.containers:
        key = f"c/{c.name}"
        last = c.last_termination
        done = c.termination is None and (
            (last is not None and last.reason == RESTARTING_REASON)
            or (last is None and c.restart_count > pod.handled.get(key, 0))
        )
        out[key] = max(out.get(key, 0), c.restart_count if done else c.restart_count + 1)
    return out


def _annotations(handled: Mapping[str, int], generation: int | None = None) -> dict[str, str]:
    out = {HANDLED_FAILURES_ANNOTATION: json.dumps(dict(sorted(handled.items())), separators=(",", ":"))}
    if generation is not None:
        out[RESTART_GENERATION_ANNOTATION] = str(generation)
    return out


def restart_patch(r: PodRestart) -> dict[str, Any]:
    return {
        "metadata": {"annotations": _annotations(r.handled, r.generation)},
        "spec": {"containers": [{"name": name, "image": image} for name, image in r.images.items()]},
    }


def handled_patch(pod: ObservedPod, handled: Mapping[str, int]) -> dict[str, Any]:
    return {"metadata": {"annotations": _annotations(dict(pod.handled) | dict(handled))}}


STOP_DEADLINE_SECONDS = 1


def stop_patch(pod: ObservedPod, handled: Mapping[str, int]) -> dict[str, Any]:
    """Stop a member for good but keep it (and its logs): the kubelet ends a pod whose active
    deadline has passed, and the pod turns Failed with reason DeadlineExceeded."""
    return {**handled_patch(pod, handled), "spec": {"activeDeadlineSeconds": STOP_DEADLINE_SECONDS}}


def recreate_group_key(record: FailureRecord | None) -> str | None:
    """The key of the RecreateGroup decision in force, stamped on the members created after it."""
    return record.key if record is not None and record.action == Action.RECREATE_GROUP else None


def to_recreate(pods: Iterable[ObservedPod], record: FailureRecord | None) -> list[ObservedPod]:
    """The members a recorded RecreateGroup has still to delete (an operator that died half-way
    through the deletes finishes them from the record alone): not deleting, not created after
    the decision (they carry its key), and created before it. The second test keeps members
    that a release without the annotation created after the decision."""
    key = recreate_group_key(record)
    if key is None or record is None:
        return []
    return [
        p
        for p in pods
        if not p.deleting and p.recreated_for != key and p.created is not None and p.created < record.time
    ]


def to_stop(pods: Iterable[ObservedPod]) -> list[ObservedPod]:
    """The members a failed group has still to stop: active, and not yet given the stop deadline
    (an operator that died between recording FailGroup and stopping every member finishes the
    stop from the record alone)."""
    return [p for p in pods if p.active and p.active_deadline_seconds != STOP_DEADLINE_SECONDS]
