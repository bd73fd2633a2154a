"""The one place that writes to the cluster. Every write tolerates having been done already
(409 on create, 404 on delete), so a reconcile repeated after a crash is harmless."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.client.rest import RESTResponse

from podgroup_operator import API_GROUP, API_VERSION, KIND, PLURAL
from podgroup_operator.core.admission import admission_annotations
from podgroup_operator.core.conditions import Event
from podgroup_operator.core.labels import RESIZED_AT_ANNOTATION
from podgroup_operator.core.placement import HOSTNAME_LABEL
from podgroup_operator.metrics import API_WRITES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupRef:
    namespace: str
    name: str
    uid: str


def api_message(exc: ApiException) -> str:
    """The API server's own words for a refusal (its Status message), else the HTTP reason."""
    try:
        return str(json.loads(exc.body or b"").get("message") or exc.reason)
    except (TypeError, ValueError):
        return f"{exc.status} {exc.reason}"


async def unparsed(call: Awaitable[Any]) -> bytes:
    """Await a pod write made with `_preload_content=False`: the answer is read but never turned
    into the client's model objects (a V1Pod per create and per release was 4 % of the
    operator's CPU at 1000 nodes, py-spy during bench.gang); a refusal raises ApiException, as
    with preloading. Returns the body as sent."""
    response = await call
    data = await response.read()
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=RESTResponse(response, data))  # type: ignore[arg-type]  # what the client itself passes
    return bytes(data)


class ClusterWriter:
    # The client's hints name its model classes; it serializes plain dicts the same way,
    # and the operator builds manifests as dicts in core/. Hence the arg-type ignores.
    def __init__(
        self, api: client.ApiClient, *, pod_writes: int = 32, report_writes: int = 8, release_writes: int = 64
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)
        # Kopf has no client-side rate limiter, so the writer bounds its own writes in flight,
        # per kind, most urgent first: gang releases (a gang waits on them), pod creates and
        # deletes, then reports (status, events), which can queue without holding anyone up.
        # Short queues at the API server keep each write's latency short.
        self._release = asyncio.Semaphore(release_writes)
        self._pods = asyncio.Semaphore(pod_writes)
        self._reports = asyncio.Semaphore(report_writes)

    async def create_pod(self, namespace: str, body: dict[str, Any]) -> str | None:
        """Create a member pod. Returns the API server's refusal message, or None when the pod
        exists afterwards (created now, or already there)."""
        API_WRITES.labels("create", "pods").inc()
        try:
            async with self._pods:
                await unparsed(self._core.create_namespaced_pod(namespace, body, _preload_content=False))  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status == 409:
                return None
            if exc.status in (400, 403, 404, 422):  # refused: the template, a quota, the namespace
                return api_message(exc)
            raise
        return None

    async def ensure_service(self, namespace: str, body: dict[str, Any], owner_uid: str) -> str | None:
        """Create the group's Service unless it exists. Returns None when a Service of that name
        is ours afterwards, else why not: a Service someone else owns (never taken over or
        deleted) or the API server's refusal."""
        name = body["metadata"]["name"]
        API_WRITES.labels("create", "services").inc()
        try:
            async with self._pods:
                await self._core.create_namespaced_service(namespace, body)  # type: ignore[arg-type]
            return None
        except ApiException as exc:
            if exc.status in (400, 403, 404, 422):
                return f"could not create Service {name}: {api_message(exc)}"
            if exc.status != 409:
                raise
        try:
            existing = await self._core.read_namespaced_service(name, namespace)
        except ApiException as exc:
            if exc.status == 404:  # deleted meanwhile: the next reconcile creates it
                return f"Service {name} was deleted while being checked"
            raise
        owners = existing.metadata.owner_references or []
        if any(o.uid == owner_uid for o in owners):
            return None
        by = ", ".join(f"{o.kind} {o.name}" for o in owners) or "no owner"
        return (
            f"a Service named {name} already exists in {namespace} and is not this PodGroup's "
            f"({by}); it is left alone: members resolve by name only if it selects them "
            "(spec.network.headlessService: false says it is brought on purpose)"
        )

    async def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete exactly the pod observed (uid precondition): never a newer pod of the same name."""
        API_WRITES.labels("delete", "pods").inc()
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            async with self._pods:
                await unparsed(
                    self._core.delete_namespaced_pod(name, namespace, body=options, _preload_content=False)
                )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        API_WRITES.labels("patch", "podgroups/status").inc()
        try:
            async with self._reports:
                await self._custom.patch_namespaced_custom_object_status(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    PLURAL,
                    name,
                    {"status": status},
                    _content_type="application/merge-patch+json",
                )  # type: ignore[call-arg]
        except ApiException as exc:
            if exc.status != 404:  # the group is gone; nothing to report on
                raise

    async def release_member(
        self,
        namespace: str,
        name: str,
        *,
        node: str,
        pin_hostname: str | None,
        remaining_gates: list[str],
        admitted_at: datetime,
        topology_domain: str = "",
    ) -> bool:
        """Remove the gang gate and, in the same write, pin the pod to its planned node and
        record the release. Returns False when the pod is gone or refused the change."""
        API_WRITES.labels("patch", "pods").inc()
        patch: dict[str, Any] = {
            "metadata": {"annotations": admission_annotations(node, admitted_at, topology_domain)},
            "spec": {"schedulingGates": [{"name": g} for g in remaining_gates] or None},
        }
        if pin_hostname is not None:
            patch["spec"]["nodeSelector"] = {HOSTNAME_LABEL: pin_hostname}
        try:
            # A JSON merge patch replaces the gate list; a strategic merge would merge it by name.
            async with self._release:
                await self._patch_pod(namespace, name, patch, "application/merge-patch+json")
        except ApiException as exc:
            if exc.status in (404, 409, 422):
                logger.warning("could not release %s/%s: %s", namespace, name, api_message(exc))
                return False
            raise
        return True

    async def _patch_pod(self, namespace: str, name: str, body: dict[str, Any], content_type: str) -> None:
        await unparsed(
            self._core.patch_namespaced_pod(
                name, namespace, body, _content_type=content_type, _preload_content=False
            )  # type: ignore[call-arg]
        )

    async def patch_pod(self, namespace: str, name: str, uid: str, patch: dict[str, Any]) -> bool:
        """A strategic merge patch of one member pod (containers merge by name), only if it is
        still the pod observed. Returns False when it is gone or replaced."""
        API_WRITES.labels("patch", "pods").inc()
        body = {**patch, "metadata": {**patch.get("metadata", {}), "uid": uid}}
        try:
            async with self._pods:
                await self._patch_pod(namespace, name, body, "application/strategic-merge-patch+json")
        except ApiException as exc:
            if exc.status in (404, 409, 422):  # gone, or replaced (uid mismatch)
                return False
            raise
        return True

    async def resize_pod(
        self, namespace: str, name: str, patch: dict[str, Any], when: datetime
    ) -> str | None:
        """Resize a member in place through the pods/resize subresource, then record when (the
        subresource carries no metadata). Returns the API server's refusal message, if any."""
        API_WRITES.labels("patch", "pods/resize").inc()
        try:
            async with self._pods:
                await self._core.patch_namespaced_pod_resize(
                    name, namespace, patch, _content_type="application/strategic-merge-patch+json"
                )  # type: ignore[call-arg]
        except ApiException as exc:
            if exc.status in (404, 409):
                return None  # gone, or changed meanwhile: the next reconcile sees it
            if exc.status in (400, 403, 422):
                return api_message(exc)
            raise
        stamp = {"metadata": {"annotations": {RESIZED_AT_ANNOTATION: when.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
        API_WRITES.labels("patch", "pods").inc()
        try:
            async with self._pods:
                await self._core.patch_namespaced_pod(
                    name, namespace, stamp, _content_type="application/merge-patch+json"
                )  # type: ignore[call-arg]
        except ApiException as exc:
            if exc.status != 404:
                raise
        return None

    async def post_event(self, group: GroupRef, event: Event, now: datetime) -> None:
        """An event on the PodGroup. Losing one is better than failing the reconcile for it."""
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"generateName": f"{group.name}.", "namespace": group.namespace},
            "involvedObject": {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": KIND,
                "namespace": group.namespace,
                "name": group.name,
                "uid": group.uid,
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": "podgroup-operator"},
            "reportingComponent": "podgroup.dev/operator",
            "reportingInstance": os.environ.get("POD_NAME", "podgroup-operator"),
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            API_WRITES.labels("create", "events").inc()
            async with self._reports:
                await self._core.create_namespaced_event(group.namespace, body)  # type: ignore[arg-type]
        except ApiException as exc:
            logger.warning(
                "could not post event %s on %s/%s: %s",
                event.reason,
                group.namespace,
                group.name,
                api_message(exc),
            )
