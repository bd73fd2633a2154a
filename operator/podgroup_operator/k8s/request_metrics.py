"""podgroup_api_requests_total: every request of the operator's own kubernetes_asyncio clients
(the writer, usage reads, leader election; not Kopf's watches, which have their own client) by
method and answer, so the API error rate is read off the operator's metrics.

Counted at the REST layer, once per process, because clients are made in several places."""

from __future__ import annotations

import functools
from typing import Any

from kubernetes_asyncio.client import rest
from kubernetes_asyncio.client.exceptions import ApiException

from podgroup_operator.metrics import API_REQUESTS


def count_api_requests() -> None:
    request = rest.RESTClientObject.request
    if getattr(request, "counted", False):
        return

    @functools.wraps(request)
    async def counting(self: rest.RESTClientObject, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await request(self, method, *args, **kwargs)
        except ApiException as exc:
            API_REQUESTS.labels(method, str(exc.status or 0)).inc()
            raise
        except Exception:  # no answer: refused, reset, timed out
            API_REQUESTS.labels(method, "0").inc()
            raise
        API_REQUESTS.labels(method, str(response.status)).inc()
        return response

    counting.counted = True  # type: ignore[attr-defined]
    rest.RESTClientObject.request = counting  # type: ignore[method-assign]
