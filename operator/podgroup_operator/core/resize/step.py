"""The resize part of one reconcile's plan: what to record (recommendations, usage checkpoints)
and the in-place resizes to send. What they come to depends on the API server's answers, so the
status they give is a function of those answers, `after`, called once the resizes are sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from podgroup_operator.api.resize import LastResize, ResizeStatus, RoleRecommendation, UsageCheckpoint
from podgroup_operator.core.resize.outcome import ResizeOutcomes, resize_outcomes
from podgroup_operator.core.resize.patch import resize_patch
from podgroup_operator.core.resize.plan import PodResize


@dataclass(frozen=True)
class ResizeStep:
    decisions: tuple[PodResize, ...]
    recommendations: tuple[RoleRecommendation, ...]
    usage: list[UsageCheckpoint] | None  # the checkpoints to store (the stored ones when not due)
    last: LastResize | None  # the last resize recorded before this reconcile
    requeue: float | None = None

    @property
    def sends(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The pods/resize patches to send: (pod, patch)."""
        return tuple((d.pod, resize_patch(d)) for d in self.decisions if d.apply)

    def after(self, refused: Mapping[str, str | None], now: datetime) -> tuple[ResizeStatus, ResizeOutcomes]:
        """The resize status once the sends got their answers (`refused`: per pod, the API
        server's refusal or None), with what the resizes came to."""
        outcomes = resize_outcomes(self.decisions, refused, self.last, now)
        status = ResizeStatus(
            recommendations=list(self.recommendations) or None, last_resize=outcomes.last, usage=self.usage
        )
        return status, outcomes
