"""Asks the API server what it supports (core/features.py says what each answer means): API
discovery for pods/resize, and server-side dry-run creates for the pod fields a feature gate
decides. A dry run stores nothing, runs no webhook side effects, and needs only the right to
create pods, which the operator has."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from podgroup_operator.core.features import (
    ClusterFeatures,
    kept_pod_resources,
    kept_rules,
    probe_pod,
    serves_resize,
)
from podgroup_operator.k8s.adapter import api_message, unparsed

logger = logging.getLogger(__name__)

# An answer that says "the server does not have it": validation refused the object.
_REFUSED = (400, 422)


async def _dry_run(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The pod as the server would store it; None when validation refuses it. Other errors
    (forbidden, unavailable) raise: they say nothing about the feature."""
    try:
        stored = await unparsed(
            client.CoreV1Api(api).create_namespaced_pod(
                namespace,
                body,  # type: ignore[arg-type]  # the client's hints name V1Pod; a dict is sent the same
                dry_run="All",
                _preload_content=False,
            )
        )
    except ApiException as exc:
        if exc.status in _REFUSED:
            logger.debug("feature probe refused: %s", api_message(exc))
            return None
        raise
    return dict(json.loads(stored))


async def _answer(what: str, probe: Any) -> Any:
    try:
        return await probe
    except (TimeoutError, ApiException, OSError) as exc:
        reason = api_message(exc) if isinstance(exc, ApiException) else repr(exc)
        logger.info("could not find out %s yet: %s", what, reason)
        return None


async def _version(api: client.ApiClient) -> str:
    return str((await client.VersionApi(api).get_code()).git_version)


async def _resize(api: client.ApiClient) -> bool:
    listing = await client.CoreV1Api(api).get_api_resources()
    return serves_resize(r.name for r in listing.resources or [])


async def _rules(api: client.ApiClient, namespace: str, action: str) -> bool:
    pod = await _dry_run(api, namespace, probe_pod(rule_action=action))
    return pod is not None and kept_rules(pod, action)


async def _pod_resources(api: client.ApiClient, namespace: str) -> bool:
    pod = await _dry_run(api, namespace, probe_pod(pod_resources=True))
    return pod is not None and kept_pod_resources(pod)


async def discover(api: client.ApiClient, namespace: str) -> ClusterFeatures:
    """Every answer the server gives now; the ones it could not give stay None."""
    version, resize, rules, restart_all, pod_resources = await asyncio.gather(
        _answer("the server version", _version(api)),
        _answer("whether pods/resize is served", _resize(api)),
        _answer("whether container restart rules are kept", _rules(api, namespace, "Restart")),
        _answer("whether RestartAllContainers is accepted", _rules(api, namespace, "RestartAllContainers")),
        _answer("whether pod-level resources are kept", _pod_resources(api, namespace)),
    )
    return ClusterFeatures(
        server_version=version,
        pods_resize=resize,
        container_restart_rules=rules,
        restart_all_containers=restart_all,
        pod_level_resources=pod_resources,
    )
