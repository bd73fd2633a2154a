"""The base of every API model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        # Ignore unknown keys: an operator must keep working on objects written by a newer CRD.
        extra="ignore",
    )

    def to_dict(self) -> dict[str, Any]:
        """The wire form: camelCase, JSON types, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
