"""--log-format json: one JSON object per line, with the logger, severity and the object a
Kopf message is about. Run in a child process: logging is configured once per process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from podgroup_operator.logs import LogFormat, default_log_format

SCRIPT = """
import logging
from podgroup_operator.logs import LogFormat, configure_logging
configure_logging(LogFormat(sys.argv[1]), verbose=False)
logging.getLogger("podgroup_operator.handlers").info("reconciled %s", "train")
ref = {"apiVersion": "podgroup.dev/v1alpha1", "kind": "PodGroup", "name": "train", "namespace": "ml"}
logging.getLogger("kopf.objects").warning("handler failed", extra={"k8s_ref": ref})
logging.getLogger("kopf.objects").info("handled")  # below WARNING unless --verbose
"""


def run(log_format: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + SCRIPT, log_format],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return out.stderr.splitlines()


def test_json_lines_carry_logger_severity_and_object() -> None:
    first, second = (json.loads(line) for line in run("json"))
    assert first["logger"] == "podgroup_operator.handlers" and first["message"] == "reconciled train"
    assert first["severity"] == "info" and first["timestamp"]
    assert second["severity"] == "warn"
    assert second["object"] == {
        "apiVersion": "podgroup.dev/v1alpha1",
        "kind": "PodGroup",
        "name": "train",
        "namespace": "ml",
    }


def test_text_is_the_default_format() -> None:
    lines = run("text")
    assert len(lines) == 2 and " INFO podgroup_operator.handlers: reconciled train" in lines[0]


def test_the_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGO_LOG_FORMAT", raising=False)
    assert default_log_format() is LogFormat.TEXT
    monkeypatch.setenv("PGO_LOG_FORMAT", "json")
    assert default_log_format() is LogFormat.JSON
