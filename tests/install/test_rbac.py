"""The operator's service account, asked through the API server's own authorizer (kubectl auth
can-i --as): allowed exactly what the operator uses, refused the rest."""

from __future__ import annotations

import pytest

from tests.e2e.cluster import kubectl
from tests.install.conftest import NAMESPACE, SERVICE_ACCOUNT

AS = f"--as=system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"

NEEDED = [
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("create", "pods"),
    ("delete", "pods"),
    ("patch", "pods"),
    ("patch", "pods --subresource=resize"),
    ("create", "events"),
    ("get", "services"),
    ("list", "services"),
    ("watch", "services"),
    ("create", "services"),
    ("get", "nodes"),
    ("list", "nodes"),
    ("watch", "nodes"),
    ("get", "pods.metrics.k8s.io"),
    ("list", "pods.metrics.k8s.io"),
    ("list", "podgroups.podgroup.dev"),
    ("watch", "podgroups.podgroup.dev"),
    ("patch", "podgroups.podgroup.dev --subresource=status"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
REFUSED = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("get", "configmaps"),
    ("list", "configmaps"),
    ("update", "pods"),
    ("patch", "pods --subresource=status"),  # the kubelet's to write
    ("create", "pods --subresource=exec"),
    ("create", "pods --subresource=eviction"),
    ("create", "podgroups.podgroup.dev"),
    ("patch", "podgroups.podgroup.dev"),  # the spec is the user's
    ("delete", "podgroups.podgroup.dev"),
    ("patch", "nodes"),
    ("delete", "nodes"),
    ("patch", "nodes --subresource=status"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("delete", "services"),
    ("patch", "services"),
    ("delete", "events"),
    ("create", "namespaces"),
    ("delete", "namespaces"),
    ("create", "serviceaccounts --subresource=token"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "users"),
]


def can_i(verb: str, resource: str) -> str:
    # -A: across every namespace, as the ClusterRoleBinding grants it.
    return kubectl("auth", "can-i", verb, *resource.split(), "-A", AS, check=False).stdout.strip()


@pytest.mark.parametrize(("verb", "resource"), NEEDED)
def test_allowed_what_the_operator_uses(crd_installed: None, verb: str, resource: str) -> None:
    assert can_i(verb, resource) == "yes"


@pytest.mark.parametrize(("verb", "resource"), REFUSED)
def test_refused_everything_else(crd_installed: None, verb: str, resource: str) -> None:
    assert can_i(verb, resource) == "no"
