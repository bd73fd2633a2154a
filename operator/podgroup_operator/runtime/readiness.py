"""Readiness: what the operator can do right now, served at /readyz beside /metrics.

Served from the metrics server's own thread, so it answers even while the event loop is busy.
The leader is ready only while every watch it needs is established (runtime/watches.py). A
follower watches nothing and is ready to take over: it reports ready, or a rolling update of the
Deployment (maxUnavailable 0) would wait forever on the new replicas that follow the old leader.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

STARTING = {"operator": "starting: the watches are not checked yet"}


class Readiness:
    """The one record of the operator's readiness; written by the event loop, read by HTTP."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._role = "standalone"
        self._problems: dict[str, str] = dict(STARTING)

    def set_follower(self) -> None:
        with self._lock:
            self._role, self._problems = "follower", {}

    def set_leading(self, problems: dict[str, str]) -> bool:
        """Record the watches' problems ({} = all established); True when readiness changed."""
        with self._lock:
            changed = problems != self._problems
            if self._role == "follower":
                self._role = "leader"
            self._problems = dict(problems)
            return changed

    def snapshot(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            body: dict[str, Any] = {"ready": not self._problems, "role": self._role}
            if self._problems:
                body["notReady"] = dict(sorted(self._problems.items()))
            return not self._problems, body


def readyz_app(
    readiness: Readiness, metrics: Callable[..., Iterable[bytes]]
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/readyz":
            return metrics(environ, start_response)
        ready, body = readiness.snapshot()
        status = "200 OK" if ready else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode() + b"\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # probes every few seconds: no access log
        pass


def serve(port: int, registry: CollectorRegistry, readiness: Readiness, addr: str = "0.0.0.0") -> None:
    """/metrics and /readyz on `port`, in a daemon thread, from process start."""
    app = readyz_app(readiness, make_wsgi_app(registry))
    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics+readyz", daemon=True).start()
