"""Topology-aware gang placement: the members of a gang, or of one role, within one domain of
a node label (a zone, a block, a rack, a host), as Kueue TAS, Volcano HyperNode and the
JobSet/LWS exclusive-topology annotations ask for."""

from __future__ import annotations

import enum
from typing import Annotated, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from podgroup_operator.api.base import ApiModel

MAX_LEVELS = 8
# A qualified name with an optional DNS-subdomain prefix, as node label keys are.
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LabelKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=317, pattern=LABEL_KEY),
    Field(description="A node label key, e.g. topology.kubernetes.io/zone."),
]

UNIQUE_LEVELS_RULE = "self.levels.all(l, self.levels.exists_one(m, m == l))"
UNIQUE_LEVELS_MESSAGE = "topology.levels must not name a label twice"
LEVEL_LISTED_RULE = "!has(self.level) || self.level in self.levels"
LEVEL_LISTED_MESSAGE = "topology.level must be one of topology.levels"
REQUIRED_LEVEL_RULE = "self.mode != 'Required' || has(self.level)"
REQUIRED_LEVEL_MESSAGE = "topology.level is required when topology.mode is Required"


class TopologyMode(enum.StrEnum):
    REQUIRED = "Required"
    PREFERRED = "Preferred"


class TopologyPolicy(ApiModel):
    """Members within one domain of a node label."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": UNIQUE_LEVELS_RULE, "message": UNIQUE_LEVELS_MESSAGE},
                {"rule": LEVEL_LISTED_RULE, "message": LEVEL_LISTED_MESSAGE},
                {"rule": REQUIRED_LEVEL_RULE, "message": REQUIRED_LEVEL_MESSAGE},
            ]
        }
    )

    levels: list[LabelKey] = Field(
        min_length=1,
        max_length=MAX_LEVELS,
        description=(
            "Node label keys naming the topology levels, from the widest to the narrowest, e.g. "
            "[topology.kubernetes.io/zone, example.com/block, example.com/rack, kubernetes.io/hostname]. "
            "A domain is the set of nodes with one value of a level's label; nodes without the "
            "label are in no domain of that level."
        ),
    )
    mode: TopologyMode = Field(
        default=TopologyMode.REQUIRED,
        description=(
            "Required: admitted only when one domain of `level` holds the whole minimum (the "
            "narrowest domain that fits is chosen). Preferred: the narrowest domain that fits, "
            "trying levels up to `level`; when none fits, the members spread. Defaults to Required."
        ),
    )
    level: LabelKey | None = Field(
        default=None,
        description=(
            "One of levels: the widest domain the members must (Required) or should (Preferred) "
            "share. Required for mode Required; for Preferred it defaults to the widest level."
        ),
    )

    @model_validator(mode="after")
    def _levels_consistent(self) -> Self:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(UNIQUE_LEVELS_MESSAGE)
        if self.level is not None and self.level not in self.levels:
            raise ValueError(LEVEL_LISTED_MESSAGE)
        if self.mode == TopologyMode.REQUIRED and self.level is None:
            raise ValueError(REQUIRED_LEVEL_MESSAGE)
        return self
