"""spec.resize: automatic in-place vertical resizing of the members, and the status records it
writes (recommendations, the last resize, usage checkpoints). Imported into models.py; the CRD is
generated from these models.

Quantities are strings in the Kubernetes quantity syntax ("250m", "2", "512Mi"); quote plain
numbers in YAML (`cpu: "2"`). That minAllowed does not exceed maxAllowed is not checked by the
API server: the recommender reports it (``core.resize.recommender.policy_problems``) and lets
maxAllowed win.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field

from podgroup_operator.api.base import ApiModel, Timestamp, list_map

# The Kubernetes quantity syntax, restricted to non-negative values with an integer exponent
# (what core.quantity.parse_quantity reads).
QUANTITY_PATTERN = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
CONTAINER_NAME_PATTERN = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"
MAX_CONTAINER_POLICIES = 16

_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


class ResizeMode(enum.StrEnum):
    """What the operator does with its recommendations."""

    OFF = "Off"  # no usage is collected, nothing is recommended or changed
    RECOMMEND = "Recommend"  # recommendations are written to the status; pods are not changed
    AUTO = "Auto"  # recommendations are applied in place through the pods/resize subresource


class ResourceName(enum.StrEnum):
    """A resource the operator can size: cpu or memory."""

    CPU = "cpu"
    MEMORY = "memory"


class ResourceQuantities(ApiModel):
    """CPU and memory quantities, e.g. {cpu: 100m, memory: 128Mi}; either may be left out."""

    cpu: str | None = Field(
        default=None,
        max_length=32,
        pattern=QUANTITY_PATTERN,
        description='CPU in cores, as a Kubernetes quantity: "250m", "2" (quoted).',
    )
    memory: str | None = Field(
        default=None,
        max_length=32,
        pattern=QUANTITY_PATTERN,
        description='Memory in bytes, as a Kubernetes quantity: "512Mi", "4Gi".',
    )

    def get(self, resource: str) -> str | None:
        value = getattr(self, resource, None)
        return value if isinstance(value, str) else None


class ContainerResizePolicy(ApiModel):
    """How one container (or every container, with "*") is sized."""

    container_name: str = Field(
        min_length=1,
        max_length=63,
        pattern=CONTAINER_NAME_PATTERN,
        description='Name of a container of the role templates, or "*" for every container that '
        "has no entry of its own.",
    )
    controlled_resources: list[ResourceName] = Field(
        default_factory=lambda: [ResourceName.CPU, ResourceName.MEMORY],
        max_length=2,
        description="Resources the operator sizes: cpu, memory or both (the default). An empty "
        "list leaves the container alone. Only resources the container already requests are "
        "changed; limits keep their ratio to the requests.",
        json_schema_extra={**_SET, "default": ["cpu", "memory"]},
    )
    min_allowed: ResourceQuantities | None = Field(
        default=None,
        description="Requests are never set below these. When a resource has no minimum here, the "
        "operator's floor applies instead (25m CPU, 250Mi memory); a minimum given here wins, "
        "even when it is lower than the floor.",
    )
    max_allowed: ResourceQuantities | None = Field(
        default=None,
        description="Requests are never set above these, not even after an OOM kill. When a "
        "minimum exceeds the maximum, the maximum wins and the PodGroup reports it.",
    )


class ResizePolicy(ApiModel):
    """Usage-driven sizing of the members' CPU and memory requests, applied in place (the
    containers are not restarted; resources whose container resizePolicy is RestartContainer are
    only recommended)."""

    mode: ResizeMode = Field(
        default=ResizeMode.OFF,
        description="Off (default): nothing is done. Recommend: recommendations are written to "
        "status.resize only. Auto: they are also applied in place through pods/resize.",
    )
    containers: list[ContainerResizePolicy] = Field(
        default_factory=list,
        max_length=MAX_CONTAINER_POLICIES,
        description="Per-container policies, keyed by containerName. A container without an entry "
        'uses the "*" entry, else the defaults (cpu and memory, no bounds).',
        json_schema_extra=list_map("containerName"),
    )
    target_percentile: int = Field(
        default=90,
        ge=50,
        le=99,
        description="The requests cover this percentile of the recent usage (CPU samples, memory "
        "peaks per interval), before the safety margin. Defaults to 90.",
    )
    safety_margin_percent: int = Field(
        default=15, ge=0, le=100, description="Added on top of the percentile, in percent. Defaults to 15."
    )
    min_change_percent: int = Field(
        default=10,
        ge=0,
        le=100,
        description="A request is only changed when it moves by at least this many percent of its "
        "current value. Defaults to 10.",
    )
    cooldown_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="A pod is not resized again sooner than this after its last resize (growing "
        "memory after an OOM kill does not wait). Defaults to 60.",
    )
    uniform: bool = Field(
        default=True,
        description="Members of a role share one recommendation and get the same size, capped at "
        "the largest that every member's node can give. When false, each pod is sized from its own "
        "usage. Defaults to true.",
    )
    oom_bump_percent: int = Field(
        default=20,
        ge=0,
        le=400,
        description="After an OOM kill, the memory request is raised in place to at least the "
        "memory at the kill plus this many percent (and by at least 100Mi). Defaults to 20.",
    )
    history_half_life_seconds: int = Field(
        default=3600,
        ge=60,
        le=604800,
        description="Usage seen this long ago weighs half as much as usage seen now. Defaults to "
        "3600 (one hour).",
    )


# --- status ------------------------------------------------------------------------------------


class ResizeResult(enum.StrEnum):
    """The outcome of a resize."""

    APPLIED = "Applied"  # the resize was accepted by the API server
    CAPPED = "Capped"  # applied, but smaller than recommended: the node (or maxAllowed) limits it
    DEFERRED = "Deferred"  # the kubelet will apply it when the node has room (PodResizePending)
    INFEASIBLE = "Infeasible"  # the node can never give it (PodResizePending); not retried as is
    ERROR = "Error"  # the kubelet or the API server failed to apply it


class ResourceRecommendation(ApiModel):
    """Recommended requests, as quantities."""

    target: dict[str, str] = Field(
        default_factory=dict, description="Recommended requests, e.g. {cpu: 250m, memory: 512Mi}."
    )
    lower_bound: dict[str, str] | None = Field(
        default=None, description="Below this the requests are likely too small (median usage)."
    )
    upper_bound: dict[str, str] | None = Field(
        default=None, description="Above this the requests are likely wasted (95th percentile or more)."
    )


class ContainerRecommendation(ResourceRecommendation):
    """Recommended requests of one container."""

    container: str = Field(description="Name of the container.")


class RoleRecommendation(ApiModel):
    """Recommendations for the members of one role (or one member when resize.uniform is false)."""

    role: str = Field(description="Name of the role.")
    pod: str | None = Field(
        default=None, description="The member this is for, when members are sized one by one."
    )
    containers: list[ContainerRecommendation] = Field(
        default_factory=list,
        max_length=32,
        description="Per-container recommendations.",
        json_schema_extra=list_map("container"),
    )
    pod_resources: ResourceRecommendation | None = Field(
        default=None,
        description="Recommended pod-level requests, when the template sets pod-level resources.",
    )


class LastResize(ApiModel):
    """The outcome of the last in-place resize the operator requested."""

    pod: str = Field(description="The member pod.")
    time: Timestamp = Field(description="When it was requested, or when its outcome was seen.")
    result: ResizeResult = Field(description="Applied, Capped, Deferred, Infeasible or Error.")
    message: str = Field(default="", max_length=4096, description="Details, e.g. the kubelet's message.")


class HistogramCheckpoint(ApiModel):
    """A decaying usage histogram in compact form: non-empty buckets only, weights scaled so the
    heaviest bucket is 10000, at most 50 buckets (about 650 bytes)."""

    reference_time: Timestamp = Field(description="The time the bucket weights are relative to.")
    total_weight: float = Field(ge=0, description="Sum of the weights before scaling.")
    buckets: dict[str, int] = Field(
        default_factory=dict,
        description="Bucket index -> scaled weight (1..10000).",
        json_schema_extra={"additionalProperties": {"type": "integer", "minimum": 0}},
    )


class PeakCheckpoint(ApiModel):
    """The highest memory working set seen in one slice of the recent past."""

    time: Timestamp = Field(description="Start of the slice.")
    bytes: int = Field(ge=0, description="Highest working set seen in it, in bytes.")


class ContainerUsageCheckpoint(ApiModel):
    """What the recommender has learnt about one container, kept so a restarted operator goes on
    from it instead of starting over."""

    container: str = Field(description='Name of the container ("" for pod-level usage).')
    cpu: HistogramCheckpoint | None = Field(default=None, description="CPU usage samples, in cores.")
    memory: HistogramCheckpoint | None = Field(
        default=None, description="Memory working-set peaks per interval, in bytes."
    )
    samples: int = Field(default=0, ge=0, description="Number of usage samples taken.")
    first_sample_time: Timestamp | None = Field(default=None, description="When the first sample was taken.")
    last_sample_time: Timestamp | None = Field(default=None, description="When the last sample was taken.")
    peaks: list[PeakCheckpoint] = Field(
        default_factory=list, max_length=16, description="Recent memory peaks, oldest first."
    )
    last_oom_time: Timestamp | None = Field(default=None, description="When the last OOM kill happened.")
    oom_memory_bytes: int | None = Field(
        default=None, ge=0, description="Memory at the recent OOM kills (the largest), in bytes."
    )


class UsageCheckpoint(ApiModel):
    """Recommender state of one role (or one member when resize.uniform is false)."""

    role: str = Field(description="Name of the role.")
    pod: str | None = Field(default=None, description="The member, when members are sized one by one.")
    containers: list[ContainerUsageCheckpoint] = Field(
        default_factory=list,
        max_length=33,
        description="Per-container state.",
        json_schema_extra=list_map("container"),
    )


class ResizeStatus(ApiModel):
    """What the resizer recommends, what it did last, and what it has learnt so far."""

    recommendations: list[RoleRecommendation] | None = Field(
        default=None, max_length=1000, description="Current recommendations."
    )
    last_resize: LastResize | None = Field(default=None, description="The last resize requested.")
    usage: list[UsageCheckpoint] | None = Field(
        default=None, max_length=1000, description="Usage history checkpoints (compact, opaque)."
    )
