"""The failure-policy engine: which action a failure gets, after rules, budget, escalation and
backoff. Pure: the history it needs is the action record kept in the PodGroup's status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from podgroup_operator.api.failure_policy import Action, ExitCodeOperator, FailurePolicy, FailureRule
from podgroup_operator.api.models import ActionUse
from podgroup_operator.core.backoff import backoff_seconds
from podgroup_operator.core.failures import Failure

# Actions that keep the failing member where it is, and nothing else.
_IN_PLACE_ALONE = (Action.RESTART_CONTAINER, Action.RESTART_POD_IN_PLACE)
# Actions whose pacing the kubelet already owns (its crash-loop backoff), or that cost nothing.
_UNPACED = (Action.IGNORE, Action.RESTART_CONTAINER, Action.FAIL_GROUP)


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str
    not_before: datetime | None = None  # backoff: act at this time, not earlier

    @property
    def counted(self) -> bool:
        """Spends the restart budget: every action that restarts or recreates something."""
        return self.action not in (Action.IGNORE, Action.FAIL_GROUP)


def _matches(rule: FailureRule, f: Failure) -> bool:
    if rule.on_exit_codes is not None:
        m = rule.on_exit_codes
        if not f.exit_code or (m.container_name is not None and m.container_name != f.container):
            return False
        return (f.exit_code in m.values) == (m.operator == ExitCodeOperator.IN)
    if rule.on_reasons is not None:
        return f.reason in rule.on_reasons
    if rule.on_pod_conditions is not None:
        return any((c.type, c.status) in f.conditions for c in rule.on_pod_conditions)
    return False


def describe(f: Failure) -> str:
    what = f"container {f.container} of pod {f.pod}" if f.container else f"pod {f.pod}"
    code = f" with exit code {f.exit_code}" if f.exit_code is not None else ""
    if f.native and f.exit_code is None:
        return f"{what} was restarted by the kubelet's RestartAllContainers rule (the exit was not seen)"
    return f"{what} failed{code} ({f.reason})"


def match(policy: FailurePolicy, f: Failure) -> tuple[Action, str]:
    for i, rule in enumerate(policy.rules):
        if _matches(rule, f):
            return rule.action, f"rule {i + 1}"
    return policy.default_action, "the default action"


def watched_conditions(policy: FailurePolicy) -> set[tuple[str, str]]:
    """Pod conditions that are failures because a rule names them."""
    return {(c.type, c.status) for r in policy.rules for c in r.on_pod_conditions or []}


def decide(
    policy: FailurePolicy, f: Failure, *, restarts: int, history: Sequence[ActionUse], now: datetime
) -> Decision:
    action, source = match(policy, f)
    if f.native:
        # The kubelet has restarted the pod already (its rules are the policy's own, written
        # into the pod when it was made): what is left is to count it, and to escalate.
        action, source = Action.RESTART_POD_IN_PLACE, "the pod's native RestartAllContainers rule"
    why = f"{describe(f)}: {action} by {source}"
    if action == Action.IGNORE:
        return Decision(action, why)
    if action in _IN_PLACE_ALONE and not f.in_place_possible:
        action = Action.RECREATE_POD
        why += f"; the member cannot restart in place ({f.reason}), so {action}"
    if restarts >= policy.max_restarts:
        spent = f"{why}; the restart budget of {policy.max_restarts} is spent"
        if f.native:
            spent += " (the kubelet's native restart went ahead: one restart past the budget)"
        return Decision(Action.FAIL_GROUP, spent)
    window = timedelta(seconds=policy.escalation.window_seconds)
    recent = [h for h in history if now - h.time <= window]
    while action != Action.FAIL_GROUP:
        uses = sum(1 for h in recent if h.action == action)
        if uses < policy.escalation.after:
            break
        bigger = action.next_larger()
        within = policy.escalation.window_seconds
        why += f"; escalated to {bigger} after {uses} uses of {action} within {within}s"
        action = bigger
    if f.native and action == Action.RESTART_POD_IN_PLACE:
        return Decision(action, why)  # done by the kubelet: there is nothing to delay
    return Decision(action, why, _not_before(policy, action, history))


def _not_before(policy: FailurePolicy, action: Action, history: Sequence[ActionUse]) -> datetime | None:
    """Paced actions wait initial * 2^(n-1) seconds (capped) after the last paced one, n being
    how many paced actions the record holds."""
    if action in _UNPACED:
        return None
    paced = [h for h in history if h.action not in _UNPACED]
    if not paced:
        return None
    delay = backoff_seconds(len(paced), policy.backoff.initial_seconds, policy.backoff.max_seconds)
    return max(h.time for h in paced) + timedelta(seconds=delay)
