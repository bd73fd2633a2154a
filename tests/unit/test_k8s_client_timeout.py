"""The operator's API clients and outages (k8s/client.py): every request of its own client has a
deadline, so a server that accepts the connection and never answers (as an API server waiting on
a paused etcd can) does not hold a request, and the writer slot it occupies, forever; and Kopf's
requests retry for as long as the API server is away."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sized

import pytest
from kubernetes_asyncio import client

from podgroup_operator.k8s.client import EndlessBackoffs, with_default_timeout


async def _silent_server() -> tuple[asyncio.Server, int]:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _api(port: int) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    return client.ApiClient(configuration)


def test_a_request_to_a_silent_server_times_out() -> None:
    async def run() -> float:
        server, port = await _silent_server()
        api = _api(port)
        with_default_timeout(api, 0.5)
        start = time.monotonic()
        try:
            with pytest.raises(asyncio.TimeoutError):
                await client.CoreV1Api(api).list_namespace()
            return time.monotonic() - start
        finally:
            await api.close()
            server.close()

    assert asyncio.run(run()) < 10


def test_a_call_that_sets_its_own_timeout_keeps_it() -> None:
    async def run() -> None:
        server, port = await _silent_server()
        api = _api(port)
        with_default_timeout(api, 3600)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await client.CoreV1Api(api).list_namespace(_request_timeout=0.3)
        finally:
            await api.close()
            server.close()

    asyncio.run(asyncio.wait_for(run(), timeout=30))


def test_error_backoffs_never_run_out_so_kopf_never_escalates() -> None:
    """Kopf gives up on a request (and its resource observer takes the operator down) once a
    sized backoff list is used up; EndlessBackoffs keeps the last step forever."""
    backoffs = EndlessBackoffs([1, 2, 5])
    assert not isinstance(backoffs, Sized)
    assert list(itertools.islice(backoffs, 6)) == [1, 2, 5, 5, 5, 5]
    assert list(itertools.islice(backoffs, 2)) == [1, 2]  # every request starts from the first step
