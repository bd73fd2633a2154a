"""spec.failurePolicy: rules that map a member's failure to an action, with a budget,
backoff and escalation. Imported into models.py; the CRD is generated from these models."""

from __future__ import annotations

import enum
from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from podgroup_operator.api.base import ApiModel


class Action(enum.StrEnum):
    """What to do about a failure, from the smallest blast radius to the largest."""

    IGNORE = "Ignore"
    RESTART_CONTAINER = "RestartContainer"
    RESTART_POD_IN_PLACE = "RestartPodInPlace"
    RESTART_GROUP_IN_PLACE = "RestartGroupInPlace"
    RECREATE_POD = "RecreatePod"
    RECREATE_GROUP = "RecreateGroup"
    FAIL_GROUP = "FailGroup"

    def next_larger(self) -> Action:
        order = list(Action)
        return order[min(order.index(self) + 1, len(order) - 1)]


class FailureReason(enum.StrEnum):
    """Termination reasons a rule can match: the kubelet's and the API's words, plus NodeLost
    (the member's node is gone or not ready)."""

    OOM_KILLED = "OOMKilled"
    ERROR = "Error"
    CONTAINER_CANNOT_RUN = "ContainerCannotRun"
    START_ERROR = "StartError"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    EVICTED = "Evicted"
    NODE_LOST = "NodeLost"


class ExitCodeOperator(enum.StrEnum):
    IN = "In"
    NOT_IN = "NotIn"


_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


class OnExitCodes(ApiModel):
    """Matches a container that exited with a non-zero code in (or not in) the values."""

    container_name: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Only this container's exits match; all containers when unset.",
    )
    operator: ExitCodeOperator = Field(description="In or NotIn.")
    values: list[int] = Field(
        min_length=1,
        max_length=255,
        description="Exit codes, 1 to 255 (0 is success, never a failure).",
        json_schema_extra={
            **_SET,
            "items": {"type": "integer", "minimum": 1, "maximum": 255, "description": "An exit code."},
        },
    )

    @model_validator(mode="after")
    def _codes_in_range(self) -> Self:
        if any(not 1 <= v <= 255 for v in self.values):
            raise ValueError("exit codes must be between 1 and 255")
        return self


class OnPodCondition(ApiModel):
    """Matches a member pod that has this condition with this status, e.g. DisruptionTarget=True."""

    type: str = Field(min_length=1, max_length=316, description="Pod condition type.")
    status: str = Field(default="True", pattern="^(True|False|Unknown)$", description="Defaults to True.")


ONE_MATCHER_RULE = (
    "[has(self.onExitCodes), has(self.onReasons), has(self.onPodConditions)].filter(m, m).size() == 1"
)
ONE_MATCHER_MESSAGE = "a rule needs exactly one of onExitCodes, onReasons or onPodConditions"


class FailureRule(ApiModel):
    """One rule; the first rule that matches a failure decides its action."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": ONE_MATCHER_RULE, "message": ONE_MATCHER_MESSAGE}]
        }
    )

    action: Action = Field(description="What to do when the rule matches.")
    on_exit_codes: OnExitCodes | None = Field(default=None, description="Match on a container's exit code.")
    on_reasons: list[FailureReason] | None = Field(
        default=None,
        min_length=1,
        max_length=7,
        description="Match on the termination reason.",
        json_schema_extra=_SET,
    )
    on_pod_conditions: list[OnPodCondition] | None = Field(
        default=None, min_length=1, max_length=8, description="Match on a pod condition (any of them)."
    )

    @model_validator(mode="after")
    def _one_matcher(self) -> Self:
        if sum(x is not None for x in (self.on_exit_codes, self.on_reasons, self.on_pod_conditions)) != 1:
            raise ValueError(ONE_MATCHER_MESSAGE)
        return self


BACKOFF_RULE = "!has(self.initialSeconds) || !has(self.maxSeconds) || self.initialSeconds <= self.maxSeconds"


class Backoff(ApiModel):
    """Exponential backoff between the operator's restart actions: initial, doubling, capped."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": BACKOFF_RULE, "message": "initialSeconds must not exceed maxSeconds"}
            ]
        }
    )

    initial_seconds: int = Field(default=10, ge=0, le=3600, description="Delay before the second action.")
    max_seconds: int = Field(default=300, ge=0, le=86400, description="The delay never grows beyond this.")

    @model_validator(mode="after")
    def _initial_not_above_max(self) -> Self:
        if self.initial_seconds > self.max_seconds:
            raise ValueError("initialSeconds must not exceed maxSeconds")
        return self


class Escalation(ApiModel):
    """After `after` uses of an action within `windowSeconds`, the next larger action is taken."""

    after: int = Field(default=3, ge=1, le=100, description="Uses of one action before escalating.")
    window_seconds: int = Field(default=600, ge=1, le=604800, description="The window uses are counted in.")


class FailurePolicy(ApiModel):
    """How the group reacts when a member fails."""

    max_restarts: int = Field(
        default=5,
        ge=0,
        le=10000,
        description="Group-wide budget of actions (Ignore does not count). When it is spent, the next "
        "counted failure fails the group.",
    )
    backoff: Backoff = Field(
        default_factory=Backoff, json_schema_extra={"default": {}}, description="Delay between actions."
    )
    escalation: Escalation = Field(
        default_factory=Escalation,
        json_schema_extra={"default": {}},
        description="When a repeated action gives way to the next larger one.",
    )
    default_action: Action = Field(
        default=Action.RESTART_CONTAINER,
        description="Action for failures no rule matches. RestartContainer leaves the restart to "
        "the kubelet (restartPolicy Always or OnFailure) and counts it.",
    )
    rules: list[FailureRule] = Field(default_factory=list, max_length=20, description="First match wins.")
