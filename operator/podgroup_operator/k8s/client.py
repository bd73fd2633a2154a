"""The kubernetes_asyncio client the operator writes with: in-cluster or from a kubeconfig."""

from __future__ import annotations

import os

from kubernetes_asyncio import client, config


async def api_client() -> client.ApiClient:
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config()
        return client.ApiClient()
    configuration = client.Configuration()
    await config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)
