"""The base of every API model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
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


def list_map(*keys: str) -> dict[str, Any]:
    """A list-map makes the API server refuse duplicate keys and lets server-side apply merge
    entries by key instead of replacing the whole list."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def _utc_seconds(value: datetime) -> datetime:
    # Kubernetes timestamps are RFC 3339 at second precision; normalising here keeps a
    # re-computed status byte-identical, so writing it again is a no-op patch.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


Timestamp = Annotated[datetime, AfterValidator(_utc_seconds)]
