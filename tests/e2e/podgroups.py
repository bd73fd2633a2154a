"""Building and reading PodGroups in e2e tests."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.e2e.realnode import TOOLS_IMAGE

GROUP, VERSION, PLURAL = "podgroup.dev", "v1alpha1", "podgroups"


def role(
    name: str,
    replicas: int,
    *,
    cpu: str = "100m",
    memory: str = "64Mi",
    command: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": TOOLS_IMAGE,
        "imagePullPolicy": "Never",
        "command": command or ["sleep", "3600"],
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
    }
    return {"name": name, "replicas": replicas, "template": {"spec": {"containers": [container]}}, **extra}


def podgroup(name: str, *roles: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"roles": list(roles), **spec},
    }


class PodGroups:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, patch)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def pods(self, name: str) -> list[client.V1Pod]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"podgroup.dev/name={name}").items
        return sorted(pods, key=lambda p: p.metadata.name)

    def condition(self, name: str, type: str) -> dict[str, Any] | None:
        conditions = (self.get(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == type), None)

    def events(self, name: str) -> list[client.CoreV1Event]:
        selector = f"involvedObject.kind=PodGroup,involvedObject.name={name}"
        return self.core.list_namespaced_event(self.namespace, field_selector=selector).items
