"""PodGroup v1alpha1: the API as pydantic models.

These models are the single source of truth for the CRD (see ``crd.py``): field types,
constraints, descriptions and the ``x-kubernetes-*`` keys below all end up in the
OpenAPI schema the API server enforces. The pydantic validators mirror the CEL rules so
that the operator refuses the same objects the API server refuses.

Python fields are snake_case; the wire format is camelCase. Parse a body with
``PodGroupSpec.model_validate(body["spec"])`` and write one back with ``.to_dict()``.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

from podgroup_operator.api.base import ApiModel, Timestamp, list_map
from podgroup_operator.api.failure_policy import FailurePolicy
from podgroup_operator.api.resize import ResizePolicy, ResizeStatus
from podgroup_operator.api.topology import TopologyPolicy

# Marker the CRD generator replaces with the real core/v1 schema of that name, taken from
# the upstream OpenAPI document (the Python side treats the template as an opaque dict).
EMBED_KEY = "x-podgroup-embed"
POD_TEMPLATE_SPEC = "io.k8s.api.core.v1.PodTemplateSpec"

MAX_GROUP_NAME = 40
MAX_ROLE_NAME = 20
MAX_ROLES = 16
MAX_REPLICAS = 1000
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

GROUP_NAME_RULE = f"size(self.metadata.name) <= {MAX_GROUP_NAME}"
GROUP_NAME_MESSAGE = (
    f"PodGroup name must be at most {MAX_GROUP_NAME} characters so member pod names "
    "<name>-<role>-<index> stay valid"
)
# Members get hostname <name>-<role>-<index> (a DNS label: at most 63 characters) and
# subdomain <name>; the headless Service is named <name> (a DNS-1035 label: starts with a letter).
MAX_HOSTNAME = 63
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
GROUP_LABEL_NAME_RULE = f"self.metadata.name.matches('{DNS1123_LABEL}')"
GROUP_LABEL_NAME_MESSAGE = (
    "metadata.name must be a DNS label (lowercase letters, digits and '-', no dots): members get "
    "the subdomain <name>"
)
SERVICE_NAME_RULE = f"!self.spec.network.headlessService || self.metadata.name.matches('{DNS1035_LABEL}')"
SERVICE_NAME_MESSAGE = (
    "metadata.name must start with a letter to name the group's headless Service; or set "
    "spec.network.headlessService: false and bring your own"
)
HOSTNAME_RULE = (
    "self.spec.roles.all(r, (has(r.template.spec) && has(r.template.spec.hostname)) || "
    f"size(self.metadata.name) + size(r.name) + size(string(r.replicas - 1)) + 2 <= {MAX_HOSTNAME})"
)
HOSTNAME_MESSAGE = (
    f"member hostnames <metadata.name>-<spec.roles[].name>-<index> must be at most {MAX_HOSTNAME} "
    "characters (a DNS label): shorten the group or role name, or set the template's hostname"
)
LEADER_ROLE_RULE = "!has(self.network.leaderRole) || self.roles.exists(r, r.name == self.network.leaderRole)"
LEADER_ROLE_MESSAGE = "spec.network.leaderRole must name one of spec.roles"
MIN_AVAILABLE_RULE = "!has(self.minAvailable) || self.minAvailable <= self.replicas"
MIN_AVAILABLE_MESSAGE = "minAvailable must not exceed replicas"


PodTemplateSpec = Annotated[dict[str, Any], WithJsonSchema({"type": "object", EMBED_KEY: POD_TEMPLATE_SPEC})]


class Role(ApiModel):
    """One kind of member of the group: a pod template stamped out `replicas` times."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": MIN_AVAILABLE_RULE, "message": MIN_AVAILABLE_MESSAGE}]
        }
    )

    name: str = Field(
        min_length=1,
        max_length=MAX_ROLE_NAME,
        pattern=DNS1123_LABEL,
        description=(
            "Name of the role, unique in the group (lowercase letters, digits and '-'). "
            "Member pods are named <podgroup>-<role>-<index> and labelled podgroup.dev/role=<role>."
        ),
    )
    replicas: int = Field(
        default=1, ge=1, le=MAX_REPLICAS, description="Number of pods of this role. Defaults to 1."
    )
    min_available: int | None = Field(
        default=None,
        ge=0,
        description=(
            "How many pods of this role must be placed for the gang to be admitted: this role's "
            "share of the all-or-nothing start. Defaults to replicas; must not exceed replicas."
        ),
    )
    template: PodTemplateSpec = Field(
        description=(
            "Pod template of the members of this role (a core/v1 PodTemplateSpec, validated by "
            "the API server). template.metadata may only carry labels and annotations: the "
            "operator sets pod names and the podgroup.dev/* labels itself."
        ),
    )
    topology: TopologyPolicy | None = Field(
        default=None,
        description=(
            "This role's members within one topology domain (e.g. one rack), inside the gang's "
            "own domain when spec.gang.topology is set too."
        ),
    )

    @model_validator(mode="after")
    def _min_available_within_replicas(self) -> Self:
        if self.min_available is not None and self.min_available > self.replicas:
            raise ValueError(MIN_AVAILABLE_MESSAGE)
        return self

    @property
    def effective_min_available(self) -> int:
        """minAvailable with its default (= replicas) applied."""
        return self.replicas if self.min_available is None else self.min_available


class Gang(ApiModel):
    """All-or-nothing admission of the group's pods."""

    schedule_timeout_seconds: int = Field(
        default=120,
        ge=1,
        le=86400,
        description=(
            "How long a partial placement may be held while waiting for the rest of the gang, "
            "in seconds. After that the placed members are released and placement starts over. "
            "Defaults to 120."
        ),
    )
    topology: TopologyPolicy | None = Field(
        default=None,
        description="The whole gang's minimum within one topology domain (e.g. one block or rack).",
    )


class Network(ApiModel):
    """How members find each other: stable DNS names, a headless Service, the leader's address."""

    headless_service: bool = Field(
        default=True,
        description=(
            "Create a headless Service named as the group (clusterIP None, publishNotReadyAddresses), "
            "selecting its members and owned by the PodGroup, so <pod>.<group> resolves to each member. "
            "false: bring your own Service of that name. Defaults to true."
        ),
    )
    leader_role: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ROLE_NAME,
        description=(
            "The role whose member 0 is the leader: PODGROUP_LEADER_ADDRESS is its DNS name. "
            "Defaults to the first role."
        ),
    )


class PodGroupSpec(ApiModel):
    """Desired state of a PodGroup."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": LEADER_ROLE_RULE, "message": LEADER_ROLE_MESSAGE}]
        }
    )

    roles: list[Role] = Field(
        min_length=1,
        max_length=MAX_ROLES,
        description="The roles of the group, at least one. Role names must be unique.",
        json_schema_extra=list_map("name"),
    )
    gang: Gang = Field(
        default_factory=Gang,
        description="Gang scheduling settings.",
        # Defaulting the object lets the API server fill in (and show) the nested defaults.
        json_schema_extra={"default": {}},
    )
    failure_policy: FailurePolicy = Field(
        default_factory=FailurePolicy,
        description="How the group reacts when a member fails.",
        json_schema_extra={"default": {}},
    )
    resize: ResizePolicy = Field(
        default_factory=ResizePolicy,
        description="Automatic in-place vertical resizing of the members.",
        json_schema_extra={"default": {}},
    )
    network: Network = Field(
        default_factory=Network,
        description="Stable member names, the headless Service and the leader's address.",
        json_schema_extra={"default": {}},
    )

    @model_validator(mode="after")
    def _leader_role_exists(self) -> Self:
        leader = self.network.leader_role
        if leader is not None and leader not in {r.name for r in self.roles}:
            raise ValueError(LEADER_ROLE_MESSAGE)
        return self

    @property
    def leader_role(self) -> str:
        """network.leaderRole with its default (the first role) applied."""
        return self.network.leader_role or self.roles[0].name


class Phase(enum.StrEnum):
    PENDING = "Pending"
    SCHEDULING = "Scheduling"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """An observation of one aspect of the PodGroup, in the Kubernetes condition convention."""

    type: str = Field(min_length=1, max_length=316, description="Type of the condition, e.g. Ready.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase reason for the last transition.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: Timestamp = Field(
        description="When the status last changed from one value to another."
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition was computed from."
    )


class RoleStatus(ApiModel):
    """Pod counts of one role."""

    name: str = Field(description="Name of the role.")
    replicas: int = Field(default=0, ge=0, description="Desired number of pods.")
    scheduled: int = Field(default=0, ge=0, description="Pods bound to a node.")
    running: int = Field(default=0, ge=0, description="Pods in phase Running.")
    ready: int = Field(default=0, ge=0, description="Pods with condition Ready=True.")
    succeeded: int = Field(default=0, ge=0, description="Pods in phase Succeeded.")
    failed: int = Field(default=0, ge=0, description="Pods in phase Failed.")


class GangStatus(ApiModel):
    """The record of gang admissions, kept so a restarted operator backs off the same way."""

    admitted_time: Timestamp | None = Field(
        default=None, description="When the gang was last released to kube-scheduler."
    )
    rollbacks: int = Field(
        default=0, ge=0, description="Placements rolled back because the schedule timeout passed."
    )
    last_rollback_time: Timestamp | None = Field(default=None, description="When the last rollback happened.")
    next_attempt_time: Timestamp | None = Field(
        default=None, description="Earliest time the gang is considered again after a rollback (backoff)."
    )
    topology_domain: str | None = Field(
        default=None,
        description=(
            "The topology domain the planner chose at the last release, e.g. 'example.com/rack=r3', "
            "per role where roles have their own ('worker: kubernetes.io/hostname=n1'); 'spread' "
            "when a preferred domain did not fit. Why no domain fits is in the GangScheduled condition."
        ),
    )


class FailureRecord(ApiModel):
    """A member's failure and the action the policy took for it."""

    pod: str = Field(description="The member pod that failed.")
    container: str | None = Field(default=None, description="The container that failed, if one did.")
    exit_code: int | None = Field(default=None, description="Its exit code, if it exited.")
    reason: str = Field(description="Termination reason, e.g. OOMKilled, Error, Evicted, NodeLost.")
    action: str = Field(description="The action taken.")
    time: Timestamp = Field(description="When the operator acted on it.")
    key: str = Field(
        description="Identity of the failure (pod uid, container, restart count): acted on once."
    )


class ActionUse(ApiModel):
    """One use of an action, kept for escalation and backoff."""

    action: str = Field(description="The action.")
    time: Timestamp = Field(description="When it was taken.")


class PodGroupStatus(ApiModel):
    """Observed state of a PodGroup, written by the operator."""

    phase: Phase | None = Field(default=None, description="Lifecycle phase of the group as a whole.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status was computed from."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=32,
        description="Latest observations of the group's state.",
        json_schema_extra=list_map("type"),
    )
    roles: list[RoleStatus] | None = Field(
        default=None,
        max_length=MAX_ROLES,
        description="Pod counts per role.",
        json_schema_extra=list_map("name"),
    )
    ready_members: str | None = Field(default=None, description='Ready pods over desired pods, e.g. "3/4".')
    restarts: int | None = Field(
        default=None, ge=0, description="Number of restarts performed on the group's members."
    )
    gang: GangStatus | None = Field(default=None, description="Gang admission record.")
    restart_generation: int | None = Field(
        default=None,
        ge=0,
        description="Incremented by every in-place restart of the whole group; members carry the "
        "generation they run in the podgroup.dev/restart-generation annotation.",
    )
    last_failure: FailureRecord | None = Field(default=None, description="The last failure acted on.")
    resize: ResizeStatus | None = Field(default=None, description="Resize recommendations and outcomes.")
    actions: list[ActionUse] | None = Field(
        default=None, max_length=64, description="Recent actions, newest last (for escalation and backoff)."
    )


class PodGroup(ApiModel):
    """A group of pods that is admitted, restarted and resized as one workload."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": GROUP_NAME_RULE, "message": GROUP_NAME_MESSAGE},
                {"rule": GROUP_LABEL_NAME_RULE, "message": GROUP_LABEL_NAME_MESSAGE},
                {"rule": SERVICE_NAME_RULE, "message": SERVICE_NAME_MESSAGE},
                {"rule": HOSTNAME_RULE, "message": HOSTNAME_MESSAGE},
            ]
        }
    )

    api_version: str | None = Field(
        default=None, description="APIVersion of the object: podgroup.dev/v1alpha1."
    )
    kind: str | None = Field(default=None, description="Kind of the object: PodGroup.")
    # The API server owns the metadata schema; a CRD may only say it is an object.
    metadata: Annotated[dict[str, Any], WithJsonSchema({"type": "object"})] = Field(default_factory=dict)
    spec: PodGroupSpec
    status: PodGroupStatus | None = None

    @model_validator(mode="after")
    def _name_fits_pod_names(self) -> Self:
        name = self.metadata.get("name")
        if not isinstance(name, str):
            return self
        if len(name) > MAX_GROUP_NAME:
            raise ValueError(GROUP_NAME_MESSAGE)
        if not re.match(DNS1123_LABEL, name):
            raise ValueError(GROUP_LABEL_NAME_MESSAGE)
        if self.spec.network.headless_service and not re.match(DNS1035_LABEL, name):
            raise ValueError(SERVICE_NAME_MESSAGE)
        for role in self.spec.roles:
            if "hostname" in (role.template.get("spec") or {}):
                continue
            if len(name) + len(role.name) + len(str(role.replicas - 1)) + 2 > MAX_HOSTNAME:
                raise ValueError(HOSTNAME_MESSAGE)
        return self
