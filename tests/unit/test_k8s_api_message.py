"""k8s.adapter.api_message: a refusal reads as the API server's own Status message."""

from __future__ import annotations

import json

from kubernetes_asyncio.client.exceptions import ApiException

from podgroup_operator.k8s.adapter import api_message


def refusal(status: int, reason: str, body: str | None) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


def test_the_status_message_is_the_refusal() -> None:
    body = json.dumps(
        {"kind": "Status", "message": 'Pod "x" is invalid: spec.containers[0].image: Required value'}
    )
    assert api_message(refusal(422, "Unprocessable Entity", body)) == (
        'Pod "x" is invalid: spec.containers[0].image: Required value'
    )


def test_without_a_status_body_the_http_reason_is() -> None:
    assert (
        api_message(refusal(429, "Too Many Requests", json.dumps({"kind": "Status"}))) == "Too Many Requests"
    )
    assert api_message(refusal(503, "Service Unavailable", "<html>")) == "503 Service Unavailable"
    assert api_message(refusal(500, "Internal Server Error", None)) == "500 Internal Server Error"
