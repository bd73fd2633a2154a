"""The generated PodGroup CRD: structural, complete, and identical to the committed YAML."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podgroup_operator.api.crd import HEADER, KubeSchemas, build_crd, main, render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "crds" / "podgroup.dev_podgroups.yaml"
FORBIDDEN = {"$ref", "allOf", "anyOf", "oneOf", "not", "title", "nullable", "$defs", "definitions"}

Schema = dict[str, Any]


def _pod_schema_kube_version() -> str:
    """The Kubernetes version whose pod schema the CRD embeds (the oldest supported one)."""
    for line in (REPO / "hack" / "versions.env").read_text().splitlines():
        if line.startswith("POD_SCHEMA_KUBE_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("POD_SCHEMA_KUBE_VERSION missing from hack/versions.env")


def _find_pod_openapi() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    modcache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout
    path = (
        Path(modcache.strip())
        / f"k8s.io/kubernetes@{_pod_schema_kube_version()}/api/openapi-spec/v3/api__v1_openapi.json"
    )
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def pod_openapi() -> Schema:
    path = _find_pod_openapi()
    if path is None:
        pytest.skip(
            "k8s.io/kubernetes OpenAPI document not in the Go module cache "
            "(run `go mod download k8s.io/kubernetes@$POD_SCHEMA_KUBE_VERSION`)"
        )
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def crd(pod_openapi: Schema) -> Schema:
    return build_crd(pod_openapi)


def _root(crd: Schema) -> Schema:
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _template(crd: Schema) -> Schema:
    schema: Schema = _root(crd)["properties"]["spec"]["properties"]["roles"]["items"]["properties"][
        "template"
    ]
    return schema


def _nodes(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path (property names are not keywords, so walk by structure)."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural(crd: Schema) -> None:
    for path, node in _nodes(_root(crd)):
        assert not FORBIDDEN & set(node), f"{path or '<root>'} has {FORBIDDEN & set(node)}"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
        else:
            assert "type" in node, f"{path} has no type"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert node["type"] == "object", path
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", path
        assert not ("properties" in node and "additionalProperties" in node), path
        for required in node.get("required", []):
            assert required in node.get("properties", {}), f"{path} requires unknown {required}"


def test_list_map_keys_are_required_or_defaulted_scalars(crd: Schema) -> None:
    seen = 0
    for path, node in _nodes(_root(crd)):
        if node.get("x-kubernetes-list-type") != "map":
            continue
        seen += 1
        items = node["items"]
        assert node["x-kubernetes-list-map-keys"], path
        for key in node["x-kubernetes-list-map-keys"]:
            prop = items["properties"][key]
            assert prop.get("type") in {"string", "integer", "number", "boolean"}, f"{path}.{key}"
            assert key in items.get("required", []) or "default" in prop, f"{path}.{key}"
    assert seen > 10  # ours plus the pod template's containers, ports, volumes, ...


def test_template_is_the_real_pod_template(crd: Schema) -> None:
    template = _template(crd)
    assert set(template["properties"]) == {"metadata", "spec"}
    containers = template["properties"]["spec"]["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["items"]["type"] == "object"
    assert "name" in containers["items"]["required"]
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert "containers" in template["properties"]["spec"]["required"]
    container = containers["items"]["properties"]
    assert container["resources"]["properties"]["requests"]["additionalProperties"] == {
        "x-kubernetes-int-or-string": True
    }
    port = container["livenessProbe"]["properties"]["httpGet"]["properties"]["port"]
    assert port == {"x-kubernetes-int-or-string": True}
    assert container["ports"]["items"]["properties"]["protocol"]["default"] == "TCP"


def test_template_metadata_only_carries_labels_and_annotations(crd: Schema) -> None:
    metadata = _template(crd)["properties"]["metadata"]
    string_map = {"type": "object", "additionalProperties": {"type": "string"}}
    assert metadata == {"type": "object", "properties": {"labels": string_map, "annotations": string_map}}


def test_template_has_no_descriptions_and_defaults_only_on_list_map_keys(crd: Schema) -> None:
    template = _template(crd)
    for path, node in _nodes(template["properties"]["spec"], "template.spec"):
        assert "description" not in node, path
    defaults = sorted(path for path, node in _nodes(template, "template") if "default" in node)
    assert defaults and all(path.endswith((".protocol", "imagePullSecrets[].name")) for path in defaults)


def test_own_fields_have_descriptions(crd: Schema) -> None:
    spec = _root(crd)["properties"]["spec"]
    for path, node in _nodes(spec, "spec"):
        if not path.startswith("spec.roles[].template."):
            assert node.get("description"), f"{path} has no description"


def test_validation_keywords_come_from_the_models(crd: Schema) -> None:
    root = _root(crd)
    assert root["required"] == ["spec"]
    assert root["x-kubernetes-validations"][0]["rule"] == "size(self.metadata.name) <= 40"
    roles = root["properties"]["spec"]["properties"]["roles"]
    assert (roles["minItems"], roles["maxItems"]) == (1, 16)
    assert roles["x-kubernetes-list-type"] == "map"
    assert roles["x-kubernetes-list-map-keys"] == ["name"]
    role = roles["items"]
    assert role["required"] == ["name", "template"]
    assert role["x-kubernetes-validations"] == [
        {
            "rule": "!has(self.minAvailable) || self.minAvailable <= self.replicas",
            "message": "minAvailable must not exceed replicas",
        }
    ]
    name = role["properties"]["name"]
    assert (name["pattern"], name["maxLength"]) == ("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", 20)
    replicas = role["properties"]["replicas"]
    assert (replicas["minimum"], replicas["maximum"], replicas["default"]) == (1, 1000, 1)
    assert role["properties"]["minAvailable"] == {
        "type": "integer",
        "minimum": 0,
        "description": role["properties"]["minAvailable"]["description"],
    }
    gang = root["properties"]["spec"]["properties"]["gang"]
    assert gang["default"] == {}
    timeout = gang["properties"]["scheduleTimeoutSeconds"]
    assert (timeout["minimum"], timeout["maximum"], timeout["default"]) == (1, 86400, 120)


def test_status_schema(crd: Schema) -> None:
    status = _root(crd)["properties"]["status"]
    assert "required" not in status
    props = status["properties"]
    assert props["phase"]["enum"] == ["Pending", "Scheduling", "Running", "Restarting", "Succeeded", "Failed"]
    conditions = props["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert conditions["items"]["properties"]["lastTransitionTime"]["format"] == "date-time"
    assert props["roles"]["x-kubernetes-list-map-keys"] == ["name"]
    assert props["restarts"]["type"] == "integer"
    assert props["readyMembers"]["type"] == "string"


def test_names_scope_subresources_and_printer_columns(crd: Schema) -> None:
    assert crd["metadata"]["name"] == "podgroups.podgroup.dev"
    spec = crd["spec"]
    assert spec["group"] == "podgroup.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "PodGroup",
        "listKind": "PodGroupList",
        "plural": "podgroups",
        "singular": "podgroup",
        "shortNames": ["pg"],
    }
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Phase", "string", ".status.phase"),
        ("Ready", "string", ".status.readyMembers"),
        ("Restarts", "integer", ".status.restarts"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_committed_yaml_matches_a_fresh_generation(crd: Schema) -> None:
    fresh = render(crd)
    assert fresh.startswith(HEADER)
    assert "&id" not in fresh and "*id" not in fresh, "shared sub-trees were dumped as YAML aliases"
    assert COMMITTED.read_text() == fresh, "crds/ is stale: run `make crds`"
    assert yaml.safe_load(fresh) == crd


def test_generation_is_deterministic(pod_openapi: Schema) -> None:
    assert render(build_crd(pod_openapi)) == render(build_crd(pod_openapi))


def test_cli_writes_the_output_file(tmp_path: Path) -> None:
    source = _find_pod_openapi()
    if source is None:
        pytest.skip("k8s.io/kubernetes OpenAPI document not in the Go module cache")
    out = tmp_path / "crd.yaml"
    assert main(["--pod-openapi", str(source), "--output", str(out)]) == 0
    assert out.read_text() == COMMITTED.read_text()


# The converter on small hand-written documents: no Go module cache needed.


def _doc(**schemas: Schema) -> Schema:
    return {"components": {"schemas": schemas}}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def test_converter_inlines_refs_and_keeps_only_map_key_defaults() -> None:
    doc = _doc(
        Outer={
            "type": "object",
            "description": "dropped",
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {"allOf": [_ref("Port")], "default": {}},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port", "protocol"],
                    "x-kubernetes-patch-strategy": "merge",
                },
                "size": {"allOf": [_ref("io.k8s.apimachinery.pkg.api.resource.Quantity")]},
            },
        },
        Port={
            "type": "object",
            "required": ["port"],
            "properties": {
                "port": {"type": "integer", "format": "int32", "default": 0},
                "protocol": {"type": "string", "default": "TCP"},
                "name": {"type": "string", "default": "http"},
            },
        },
    )
    assert KubeSchemas(doc).structural("Outer") == {
        "type": "object",
        "properties": {
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["port"],
                    "properties": {
                        # required keys need no default; a default would hide a missing key
                        "port": {"type": "integer", "format": "int32"},
                        "protocol": {"type": "string", "default": "TCP"},
                        "name": {"type": "string"},
                    },
                },
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
            },
            "size": {"x-kubernetes-int-or-string": True},
        },
    }


def test_converter_refuses_recursion() -> None:
    doc = _doc(A={"type": "object", "properties": {"b": _ref("B")}}, B={"type": "array", "items": _ref("A")})
    with pytest.raises(ValueError, match="recursive schema: A -> B -> A"):
        KubeSchemas(doc).structural("A")


def test_converter_refuses_unknown_keywords() -> None:
    doc = _doc(A={"type": "object", "properties": {"x": {"type": "string", "x-new-thing": 1}}})
    with pytest.raises(ValueError, match="x-new-thing"):
        KubeSchemas(doc).structural("A")


def test_models_alone_give_a_structural_schema() -> None:
    # With a stub pod template the rest of the schema is checked even without the Go module cache.
    stub = _doc(**{"io.k8s.api.core.v1.PodTemplateSpec": {"type": "object", "properties": {}}})
    root = _root(build_crd(stub))
    for path, node in _nodes(root):
        assert not FORBIDDEN & set(node), path
        assert "type" in node, path
        assert node.get("default", "") is not None, path
