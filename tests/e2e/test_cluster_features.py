"""The operator finds out what the cluster supports by asking it (discovery and dry-run
creates), never from its version: what it reports is what this test finds by asking the same
API server itself, on whichever cluster and version the suite runs against."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from kubernetes import client

from tests.e2e.cluster import eventually

FEATURE_LINE = re.compile(r'^podgroup_operator_cluster_feature\{feature="(\w+)"\} ([01])\.0$', re.M)


def operator_metrics(api: client.ApiClient, operator: Any) -> str:
    """/metrics of the operator under test: the local process, or the Deployment (through the
    API server's Service proxy) when the suite runs against an operator installed in the cluster."""
    if operator is not None:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10) as r:
            return str(r.read().decode())
    return str(
        client.CoreV1Api(api).connect_get_namespaced_service_proxy_with_path(
            "http:podgroup-operator-metrics:8080", "podgroup-system", "metrics"
        )
    )


def dry_run_keeps(api: client.ApiClient, namespace: str, action: str) -> bool:
    """Whether the API server keeps (True) a container restart rule with this action, or
    drops or refuses it (False)."""
    container = {
        "name": "c",
        "image": "registry.local/tools:1.0",
        "restartPolicy": "Never",
        "restartPolicyRules": [{"action": action, "exitCodes": {"operator": "In", "values": [7]}}],
    }
    body = {
        "metadata": {"generateName": "probe-"},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    try:
        pod = client.CoreV1Api(api).create_namespaced_pod(
            namespace, body, dry_run="All", _preload_content=False
        )
    except client.ApiException as exc:
        assert exc.status == 422, exc  # refused by validation: the server does not have the action
        return False
    stored = json.loads(pod.data)["spec"]["containers"][0]
    return any(r.get("action") == action for r in stored.get("restartPolicyRules") or [])


def test_the_operator_reports_what_the_api_server_itself_answers(
    api: client.ApiClient, operator: Any, namespace: str
) -> None:
    resources = client.CoreV1Api(api).get_api_resources().resources
    expected = {
        "pods_resize": any(r.name == "pods/resize" for r in resources),
        "container_restart_rules": dry_run_keeps(api, namespace, "Restart"),
        "restart_all_containers": dry_run_keeps(api, namespace, "RestartAllContainers"),
    }

    def reported() -> dict[str, bool] | None:
        found = {name: value == "1" for name, value in FEATURE_LINE.findall(operator_metrics(api, operator))}
        return found if set(expected) <= set(found) else None

    found = eventually(reported, timeout=60, what="the operator to report the cluster's features")
    assert {k: found[k] for k in expected} == expected
    # Every version the suite runs on (1.35 to 1.37) serves in-place resize and restart rules.
    assert expected["pods_resize"] and expected["container_restart_rules"]
    if operator is not None:  # the local process: its log says the same
        log = operator.log_path.read_text(errors="replace")
        assert "cluster features: pods/resize: served: Auto resize applies in place" in log
