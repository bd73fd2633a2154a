"""api.resize: the spec.resize models, their wire form, and their schema in the generated CRD."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import Field, ValidationError

from podgroup_operator.api import crd
from podgroup_operator.api.models import PodGroup, PodGroupSpec, PodGroupStatus
from podgroup_operator.api.resize import (
    QUANTITY_PATTERN,
    ContainerResizePolicy,
    LastResize,
    ResizeMode,
    ResizePolicy,
    ResizeStatus,
    ResourceName,
)

Schema = dict[str, Any]


def policy(**fields: Any) -> ResizePolicy:
    return ResizePolicy.model_validate(fields)


def test_defaults() -> None:
    p = policy()
    assert p.mode == ResizeMode.OFF
    assert p.containers == []
    assert (p.target_percentile, p.safety_margin_percent, p.min_change_percent) == (90, 15, 10)
    assert (p.cooldown_seconds, p.uniform, p.oom_bump_percent, p.history_half_life_seconds) == (
        60,
        True,
        20,
        3600,
    )
    c = ContainerResizePolicy.model_validate({"containerName": "*"})
    assert c.controlled_resources == [ResourceName.CPU, ResourceName.MEMORY]
    assert c.min_allowed is None and c.max_allowed is None


def test_wire_form_round_trip() -> None:
    wire = {
        "mode": "Auto",
        "uniform": False,
        "containers": [
            {
                "containerName": "trainer",
                "controlledResources": ["memory"],
                "minAllowed": {"cpu": "100m", "memory": "128Mi"},
                "maxAllowed": {"cpu": "4", "memory": "8Gi"},
            }
        ],
        "targetPercentile": 95,
        "safetyMarginPercent": 20,
        "minChangePercent": 5,
        "cooldownSeconds": 120,
        "oomBumpPercent": 50,
        "historyHalfLifeSeconds": 600,
    }
    p = policy(**wire)
    assert p.mode == ResizeMode.AUTO
    assert p.containers[0].max_allowed is not None and p.containers[0].max_allowed.get("memory") == "8Gi"
    assert p.to_dict() == wire


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", "Sometimes"),
        ("targetPercentile", 49),
        ("targetPercentile", 100),
        ("safetyMarginPercent", -1),
        ("safetyMarginPercent", 101),
        ("minChangePercent", 101),
        ("cooldownSeconds", 86401),
        ("oomBumpPercent", 401),
        ("historyHalfLifeSeconds", 59),
        ("historyHalfLifeSeconds", 604801),
    ],
)
def test_out_of_range_fields_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        policy(**{field: value})


@pytest.mark.parametrize(
    "entry",
    [
        {"containerName": "Main"},
        {"containerName": "-x"},
        {"containerName": ""},
        {"containerName": "a", "controlledResources": ["gpu"]},
        {"containerName": "a", "minAllowed": {"cpu": "-1"}},
        {"containerName": "a", "minAllowed": {"cpu": "lots"}},
        {"containerName": "a", "maxAllowed": {"memory": "1GB"}},
        {"containerName": "a", "maxAllowed": {"memory": "1e1.5"}},
    ],
)
def test_bad_container_policies_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContainerResizePolicy.model_validate(entry)


def test_at_most_16_container_policies() -> None:
    many = [{"containerName": f"c{i}"} for i in range(17)]
    with pytest.raises(ValidationError):
        policy(containers=many)


@pytest.mark.parametrize(
    ("quantity", "ok"),
    [
        ("100m", True),
        ("2", True),
        ("1.5", True),
        (".5", True),
        ("512Mi", True),
        ("4Gi", True),
        ("1e3", True),
        ("1E", True),
        ("+1", True),
        ("-1", False),
        ("1GB", False),
        ("1 Gi", False),
        ("", False),
        ("m", False),
    ],
)
def test_quantity_pattern(quantity: str, ok: bool) -> None:
    assert bool(re.match(QUANTITY_PATTERN, quantity)) is ok


def test_unknown_keys_are_ignored() -> None:
    assert policy(mode="Recommend", fromTheFuture=1).mode == ResizeMode.RECOMMEND


def test_status_models_wire_form() -> None:
    status = ResizeStatus.model_validate(
        {
            "recommendations": [
                {
                    "role": "worker",
                    "containers": [
                        {"container": "main", "target": {"cpu": "250m", "memory": "512Mi"}},
                    ],
                }
            ],
            "lastResize": {"pod": "g-worker-0", "time": "2025-01-01T00:00:00.5Z", "result": "Capped"},
        }
    )
    assert status.last_resize is not None
    assert status.last_resize.time == datetime(2025, 1, 1, tzinfo=UTC)
    assert status.to_dict()["lastResize"] == {
        "pod": "g-worker-0",
        "time": "2025-01-01T00:00:00Z",
        "result": "Capped",
        "message": "",
    }
    with pytest.raises(ValidationError):
        LastResize.model_validate({"pod": "p", "time": "2025-01-01T00:00:00Z", "result": "Maybe"})


# --- the CRD schema, with the models wired in as the lead will ---------------------------------


class _Spec(PodGroupSpec):
    resize: ResizePolicy = Field(
        default_factory=ResizePolicy,
        description="In-place vertical resizing.",
        json_schema_extra={"default": {}},
    )


class _Status(PodGroupStatus):
    resize: ResizeStatus | None = Field(default=None, description="Resizing state.")


class _Group(PodGroup):
    spec: _Spec
    status: _Status | None = None


class _NoPods:
    def structural(self, name: str) -> Schema:
        return {"type": "object"}


def _nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.fixture(scope="module")
def schema() -> Schema:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(crd, "PodGroup", _Group)
        return crd.model_schema(_NoPods())  # type: ignore[arg-type]


def test_crd_schema_is_structural(schema: Schema) -> None:
    forbidden = {"$ref", "allOf", "anyOf", "oneOf", "not", "title", "nullable", "$defs"}
    for path, node in _nodes(schema):
        assert not forbidden & set(node), path
        assert "type" in node, path
    for path, node in _nodes(schema):
        if node.get("x-kubernetes-list-type") == "map":
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in node["items"].get("required", []), f"{path}.{key}"


def test_crd_spec_resize_fields(schema: Schema) -> None:
    resize = schema["properties"]["spec"]["properties"]["resize"]
    assert resize["default"] == {}
    for path, node in _nodes(resize, "resize"):
        assert node.get("description"), f"{path} has no description"
    props = resize["properties"]
    assert props["mode"]["enum"] == ["Off", "Recommend", "Auto"]
    assert props["mode"]["default"] == "Off"
    assert (props["targetPercentile"]["minimum"], props["targetPercentile"]["maximum"]) == (50, 99)
    containers = props["containers"]
    assert containers["maxItems"] == 16
    assert containers["x-kubernetes-list-map-keys"] == ["containerName"]
    entry = containers["items"]["properties"]
    assert entry["controlledResources"]["x-kubernetes-list-type"] == "set"
    assert entry["controlledResources"]["default"] == ["cpu", "memory"]
    assert entry["controlledResources"]["items"]["enum"] == ["cpu", "memory"]
    cpu = entry["minAllowed"]["properties"]["cpu"]
    assert cpu["type"] == "string" and cpu["pattern"] == QUANTITY_PATTERN
    assert set(entry["maxAllowed"]["properties"]) == {"cpu", "memory"}


def test_crd_status_resize_fields(schema: Schema) -> None:
    resize = schema["properties"]["status"]["properties"]["resize"]["properties"]
    recs = resize["recommendations"]["items"]["properties"]
    assert recs["containers"]["items"]["properties"]["target"]["additionalProperties"] == {"type": "string"}
    assert resize["lastResize"]["properties"]["result"]["enum"] == [
        "Applied",
        "Capped",
        "Deferred",
        "Infeasible",
        "Error",
    ]
    cpu = resize["usage"]["items"]["properties"]["containers"]["items"]["properties"]["cpu"]
    assert cpu["properties"]["buckets"]["additionalProperties"]["type"] == "integer"
    assert cpu["properties"]["referenceTime"]["format"] == "date-time"
