"""The operator's log output: text lines for people, or JSON (one object per line) for log
pipelines (`--log-format json` or PGO_LOG_FORMAT=json)."""

from __future__ import annotations

import enum
import logging
import os
from typing import Any

import kopf

LOG_FORMAT_ENV = "PGO_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def default_log_format() -> LogFormat:
    return LogFormat(os.environ.get(LOG_FORMAT_ENV) or LogFormat.TEXT)


def configure_logging(log_format: LogFormat, verbose: bool) -> None:
    if log_format is LogFormat.JSON:
        # Kopf's JSON formatter: timestamp, severity, logger name, message, and the Kubernetes
        # object a message is about (apiVersion, kind, name, uid, namespace) under "object".
        kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON, log_refkey="object")
        handler = logging.getLogger().handlers[-1]
        # The same formatter class, also naming the logger (the fields come from the format).
        json_formatter: Any = type(handler.formatter)
        handler.setFormatter(
            json_formatter("%(name)s %(message)s", refkey="object", rename_fields={"name": "logger"})
        )
    else:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=TEXT_FORMAT)
    if not verbose:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)  # one line per handled event
