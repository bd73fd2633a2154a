"""Every PodGroup in examples/ is valid against the API models (the CRD's source); the e2e
tests (tests/e2e/test_examples.py) apply them to a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from podgroup_operator.api.models import PodGroup

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_a_valid_podgroup(path: Path) -> None:
    body = yaml.safe_load(path.read_text())
    group = PodGroup.model_validate(body)
    assert group.kind == "PodGroup" and body["metadata"]["name"]


def test_the_documented_examples_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"training-gang.yaml", "head-workers.yaml", "serving-resize.yaml"} <= names
