"""The kubernetes_asyncio client the operator writes with: in-cluster or from a kubeconfig."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

from kubernetes_asyncio import client, config


async def api_client(request_timeout: float | None = None) -> client.ApiClient:
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
        api = client.ApiClient()
    else:
        configuration = client.Configuration()
        await config.load_kube_config(client_configuration=configuration)
        api = client.ApiClient(configuration)
    if request_timeout:
        with_default_timeout(api, request_timeout)
    return api


def with_default_timeout(api: client.ApiClient, seconds: float) -> None:
    """Give every request a deadline unless the call sets its own. Without one, kubernetes_asyncio
    waits forever: a request stalled while etcd was paused held a writer slot for good, and with
    every status slot held no PodGroup's status moved again (tests/reliability)."""
    request = api.rest_client.request

    async def timed(*args: Any, **kwargs: Any) -> Any:
        kwargs["_request_timeout"] = kwargs.get("_request_timeout") or seconds
        return await request(*args, **kwargs)

    api.rest_client.request = timed  # type: ignore[method-assign]


class EndlessBackoffs:
    """Kopf's error backoffs (settings.networking.error_backoffs) that never run out: the steps,
    then the last step forever. Kopf escalates a request once a finite list is used up; for its
    resource observer that ends the whole operator, so an API server down for longer than the
    list's sum (128 s then) made the operator exit (tests/reliability). Not Sized on purpose: Kopf
    counts attempts only for sized backoffs."""

    def __init__(self, steps: Iterable[float]) -> None:
        self.steps = tuple(steps)

    def __iter__(self) -> Iterator[float]:
        return itertools.chain(self.steps, itertools.repeat(self.steps[-1]))
