"""429s from the real API server: API Priority and Fairness. The operator runs as a service
account of its own; a FlowSchema matches that account and sends it to a priority level with
one concurrency share, no borrowing and no queue, so what does not fit is rejected with 429.
Creating and deleting the FlowSchema turns the bursts on and off."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from kubernetes import client
from tests.e2e.cluster import kubeconfig, kubectl

NAME = "pgo-reliability-throttle"


def operator_kubeconfig(api: client.ApiClient, namespace: str, path: Path) -> str:
    """A kubeconfig for a cluster-admin service account in `namespace`, with a token."""
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata={"name": "operator"}))
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata={"name": f"{NAME}-{namespace}"},
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="operator", namespace=namespace)],
        )
    )
    token = core.create_namespaced_service_account_token(
        "operator", namespace, client.AuthenticationV1TokenRequest(spec={"expirationSeconds": 24 * 3600})
    ).status.token
    admin = yaml.safe_load(Path(kubeconfig()).read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": cluster}],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "operator"}}],
                "current-context": "local",
            }
        )
    )
    return str(path)


def forget_operator_account(api: client.ApiClient, namespace: str) -> None:
    try:
        client.RbacAuthorizationV1Api(api).delete_cluster_role_binding(f"{NAME}-{namespace}")
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def priority_level(shares: int) -> dict:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": NAME},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": {"type": "Reject"},
            },
        },
    }


def flow_schema(namespace: str) -> dict:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": NAME},
        "spec": {
            "matchingPrecedence": 50,  # ahead of every suggested schema but exempt/probes
            "priorityLevelConfiguration": {"name": NAME},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"name": "operator", "namespace": namespace},
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }


def apply(body: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(body))


def delete(kind: str) -> None:
    kubectl("delete", kind, NAME, "--ignore-not-found", "--wait=false")


def rejected() -> int:
    """429s the API server has answered for our FlowSchema so far (its own metric)."""
    metrics = kubectl("get", "--raw", "/metrics").stdout
    pattern = re.compile(r"^apiserver_flowcontrol_rejected_requests_total\{([^}]*)\} (\S+)$", re.M)
    return sum(int(float(v)) for labels, v in pattern.findall(metrics) if f'flow_schema="{NAME}"' in labels)
