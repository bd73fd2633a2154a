"""Failures of a member pod, read from its observed state, each with a stable identity.

A failure is identified by (pod uid, key, count): key names what failed ("c/<container>",
"pod/<reason>", "node", "cond/<type>") and count is the container's restart count the failure
stands for (1 for pod-level failures). The pod's handled-failures annotation records, per key,
the count already acted on, so a failure is acted on once, even after an operator restart.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from podgroup_operator.core.native_restart import (
    RESTARTING_CONDITION,
    RESTARTING_REASON,
    has_restart_all_rule,
)
from podgroup_operator.core.observed import ObservedContainer, ObservedPod, Termination

# Pod-level reasons (status.reason of a Failed pod) that are failures of the member.
# The reason recorded for a native RestartAllContainers whose triggering exit was not seen.
RESTART_ALL_REASON = "RestartAllContainers"
POD_FAILURE_REASONS = ("Evicted", "DeadlineExceeded", "OutOfmemory", "OutOfcpu", "UnexpectedAdmissionError")


@dataclass(frozen=True)
class Failure:
    pod: str
    pod_uid: str
    key: str
    count: int
    reason: str
    container: str | None = None
    exit_code: int | None = None
    conditions: tuple[tuple[str, str], ...] = ()
    time: datetime | None = None
    # The kubelet restarts (or restarted) every container of the pod through its native
    # RestartAllContainers rule: the in-place restart is done, the operator only accounts for it.
    native: bool = False

    @property
    def in_place_possible(self) -> bool:
        """Whether the member can still be restarted where it is."""
        return self.reason != "NodeLost" and not self.key.startswith("pod/")

    @property
    def identity(self) -> str:
        return f"{self.pod_uid}/{self.key}/{self.count}"


def restarting_natively(pod: ObservedPod) -> bool:
    """The kubelet is in the middle of a RestartAllContainers on this pod."""
    return (RESTARTING_CONDITION, "True") in pod.conditions or any(
        not c.running and c.last_termination is not None and c.last_termination.reason == RESTARTING_REASON
        for c in pod.containers
    )


def _restarted_natively(pod: ObservedPod, c: ObservedContainer, native_rules: bool) -> bool:
    """A restart of the container the operator has not accounted for and that no failure of its
    own explains: the kubelet stopped it for a RestartAllContainers (its last state says so,
    or is empty: the kubelet drops the last state of containers it restarted that way)."""
    if not native_rules or c.restart_count <= pod.handled.get(f"c/{c.name}", 0):
        return False
    last = c.last_termination
    return last is None or last.reason == RESTARTING_REASON


def detect_failures(
    pod: ObservedPod, *, node_lost: bool, watched_conditions: Collection[tuple[str, str]]
) -> list[Failure]:
    """The failures of the pod not yet acted on, oldest first. A pod being deleted has none:
    it is going anyway (a scale-down, a recreate, its namespace going away)."""
    found: list[Failure] = []
    if pod.deleting:
        return found

    def add(
        key: str,
        count: int,
        reason: str,
        container: str | None = None,
        t: Termination | None = None,
        *,
        native: bool = False,
    ) -> None:
        if pod.handled.get(key, 0) < count:
            found.append(
                Failure(
                    pod.name,
                    pod.uid,
                    key,
                    count,
                    reason,
                    container=container,
                    exit_code=t.exit_code if t else None,
                    conditions=pod.conditions,
                    time=t.finished_at if t else None,
                    native=native,
                )
            )

    if pod.phase == "Failed" and pod.reason in POD_FAILURE_REASONS:
        # Evicted, past its deadline...: the pod's reason is the failure, not the exit codes
        # of the containers the kubelet killed for it.
        add(f"pod/{pod.reason}", 1, pod.reason or "Failed")
        return found
    native_rules = has_restart_all_rule(pod.body.get("spec") or {})
    restarting_all = native_rules and (RESTARTING_CONDITION, "True") in pod.conditions
    unexplained = False
    for c in pod.containers:
        key = f"c/{c.name}"
        if c.termination is not None and c.termination.failed:
            # Stays terminated: the kubelet will not (or not yet) restart it, unless its native
            # rule has just started a RestartAllContainers.
            reason = c.termination.reason or "Error"
            add(key, c.restart_count + 1, reason, c.name, c.termination, native=restarting_all)
        elif _restarted_natively(pod, c, native_rules):
            # The failure that set it off was not seen (the kubelet's status moved on before the
            # operator looked, or the operator was down): the restart is all there is to count.
            if not unexplained:
                add(key, c.restart_count, RESTART_ALL_REASON, native=True)
            unexplained = True
        elif c.last_termination is not None and c.last_termination.failed:
            # The kubelet restarted it after it failed. Its restart count is the current run's;
            # while it waits to start again (back-off) the failed run is still the current one,
            # except after a RestartAllContainers stop, which the kubelet counts at once.
            last = c.last_termination
            waiting = not c.running and c.termination is None and last.reason != RESTARTING_REASON
            count = c.restart_count + 1 if waiting else c.restart_count
            add(key, count, last.reason or "Error", c.name, last)
    if node_lost and pod.active:
        add("node", 1, "NodeLost")
    for condition in pod.conditions:
        if condition in watched_conditions:
            add(f"cond/{condition[0]}", 1, condition[0])
    return sorted(found, key=lambda f: f.time.timestamp() if f.time else float("inf"))
