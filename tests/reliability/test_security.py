"""Security: least-privilege RBAC as the API server's authorizer sees it, a hardened container,
and no secret in the operator's log.

The RBAC of manifests/ (kustomize, as installed) is applied under throwaway names for a
throwaway namespace's service account; the API server then lists what that account may do
(`kubectl auth can-i --list`), less what every authenticated account may do. The operator is
then run *as that account* (a service-account token, leader election on) with --verbose against
a PodGroup whose template reads a Secret: it must work, and its log must hold neither the
secret, nor its token, nor the cluster admin's client key.
"""

from __future__ import annotations

import base64
import copy
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from tests.e2e.cluster import REPO, eventually, kubeconfig, kubectl, kubectl_path
from tests.e2e.nodes import NodePool
from tests.e2e.podgroups import PodGroups, podgroup, role
from tests.operator_process import TEST_ENV, OperatorProcess
from tests.reliability.harness import cluster_dir

SA = "podgroup-operator"
LEASE = "podgroup-operator"

# (resource as can-i names it, resource names, verb): reviewed; a change here is a decision.
CLUSTER_WIDE = {
    ("podgroups.podgroup.dev", "", "get"),
    ("podgroups.podgroup.dev", "", "list"),
    ("podgroups.podgroup.dev", "", "watch"),
    ("podgroups.podgroup.dev/status", "", "patch"),
    *(("pods", "", v) for v in ("get", "list", "watch", "create", "delete", "patch")),
    ("pods/resize", "", "patch"),
    *(("services", "", v) for v in ("get", "list", "watch", "create")),
    ("events", "", "create"),
    ("nodes", "", "get"),
    ("nodes", "", "list"),
    ("nodes", "", "watch"),
    ("pods.metrics.k8s.io", "", "get"),
    ("pods.metrics.k8s.io", "", "list"),
    ("customresourcedefinitions.apiextensions.k8s.io", "", "get"),
    ("customresourcedefinitions.apiextensions.k8s.io", "", "list"),
    ("customresourcedefinitions.apiextensions.k8s.io", "", "watch"),
}
# Only in the operator's own namespace: its one Lease.
OWN_NAMESPACE = {
    ("leases.coordination.k8s.io", "", "create"),
    ("leases.coordination.k8s.io", LEASE, "get"),
    ("leases.coordination.k8s.io", LEASE, "update"),
}


def rendered_rbac() -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl_path(), "kustomize", str(REPO / "manifests")], capture_output=True, text=True, check=True
    ).stdout
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in kinds]


def retarget(objs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The install's RBAC for `namespace`: cluster-scoped names made unique, subjects moved."""
    out = []
    for obj in copy.deepcopy(objs):
        meta = obj["metadata"]
        if obj["kind"].startswith("Cluster"):
            meta["name"] = f"{namespace}-{meta['name']}"
        else:
            meta["namespace"] = namespace
        if obj["kind"] == "ClusterRoleBinding":
            obj["roleRef"]["name"] = f"{namespace}-{obj['roleRef']['name']}"
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
        out.append(obj)
    return out


def can_i_list(user: str, namespace: str) -> set[tuple[str, str, str]]:
    """What `user` may do in `namespace` (resource rules only), one (resource, name, verb) each."""
    out = kubectl("auth", "can-i", "--list", f"--as={user}", "-n", namespace).stdout
    rules = set()
    for line in out.splitlines()[1:]:
        match = re.match(r"^(\S+)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$", line)
        if not match:
            continue  # a non-resource URL (discovery, version): granted to everyone
        resource, _, names, verbs = match.groups()
        for name in names.split() or [""]:
            for verb in verbs.split():
                rules.add((resource, name, verb))
    return rules


@pytest.fixture(scope="module")
def installed_rbac(api: client.ApiClient, crd_installed: None) -> Iterator[str]:
    """A namespace with the operator's service account bound by the install's RBAC."""
    core = client.CoreV1Api(api)
    namespace = f"sec-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    objs = retarget(rendered_rbac(), namespace)
    # A second account with no binding at all: what everyone may do anyway.
    nobody = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}}
    manifest = yaml.safe_dump_all([*objs, nobody])
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    yield namespace
    kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=manifest, check=False)
    core.delete_namespace(namespace)


def test_rendered_rbac_is_what_the_service_account_may_do(installed_rbac: str) -> None:
    namespace = installed_rbac
    everyone = can_i_list(f"system:serviceaccount:{namespace}:nobody", namespace)
    mine = can_i_list(f"system:serviceaccount:{namespace}:{SA}", namespace) - everyone
    assert mine == CLUSTER_WIDE | OWN_NAMESPACE, (
        f"more than intended: {sorted(mine - CLUSTER_WIDE - OWN_NAMESPACE)}; "
        f"missing: {sorted(CLUSTER_WIDE | OWN_NAMESPACE - mine)}"
    )
    # Elsewhere, no lease: leader election is confined to the operator's namespace.
    other = can_i_list(f"system:serviceaccount:{namespace}:{SA}", "default") - everyone
    assert other == CLUSTER_WIDE
    # Nothing that reads secrets or grants more power, anywhere.
    for resource, _, verb in mine:
        assert not resource.startswith(("secrets", "configmaps", "serviceaccounts", "roles", "clusterroles"))
        assert verb not in ("*", "escalate", "bind", "impersonate", "deletecollection")


def _pod_specs(rendered: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    assert docs
    return [d["spec"]["template"]["spec"] for d in docs]


@pytest.mark.parametrize("source", ["kustomize", "kustomize-local", "helm"])
def test_container_is_non_root_read_only_and_unprivileged(source: str) -> None:
    if source == "helm":
        helm = Path(os.environ.get("PGO_CACHE") or Path.home() / ".cache/podgroup-operator") / "bin"
        binary = next(iter(sorted(helm.glob("helm-v*"))), None)
        if binary is None:
            pytest.skip(f"no helm in {helm} (hack/image/build-helm.sh)")
        args = [str(binary), "template", "pgo", str(REPO / "charts/podgroup-operator"), "-n", "pgo"]
    else:
        folder = "manifests" if source == "kustomize" else "manifests/local"
        args = [kubectl_path(), "kustomize", str(REPO / folder)]
    for spec in _pod_specs(subprocess.run(args, capture_output=True, text=True, check=True).stdout):
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
        assert all("hostPath" not in v for v in spec.get("volumes", []))
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc.get("privileged") is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert "add" not in sc["capabilities"]


def token_kubeconfig(namespace: str, token: str, path: Path) -> None:
    """A kubeconfig for the same API server that authenticates with `token` only."""
    admin = yaml.safe_load(Path(kubeconfig()).read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "operator", "namespace": namespace}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))


def admin_client_key() -> list[str]:
    """The admin's client key as it could leak: the kubeconfig's base64 and the PEM body lines."""
    user = yaml.safe_load(Path(kubeconfig()).read_text())["users"][0]["user"]
    if "client-key-data" in user:
        pem = base64.b64decode(user["client-key-data"]).decode()
        encoded = [user["client-key-data"]]
    elif "client-key" in user:
        key_path = Path(user["client-key"])
        if not key_path.is_absolute():
            key_path = Path(kubeconfig()).parent / key_path
        pem, encoded = key_path.read_text(), []
    else:
        return []
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return encoded + [line for line in body if len(line) >= 32]


def test_operator_runs_as_its_account_and_logs_no_secret(
    api: client.ApiClient, installed_rbac: str, tmp_path: Path
) -> None:
    namespace = installed_rbac
    core = client.CoreV1Api(api)
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"password": secret_value}),
    )
    # Scoped to its namespace here (others share the cluster), Kopf also resolves --namespace
    # against the namespace list: that one right is added for this run, the install runs
    # cluster-wide and has no need of it.
    scoped = yaml.safe_dump_all(
        [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"{namespace}-scoped-run"},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{namespace}-scoped-run"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"{namespace}-scoped-run",
                },
                "subjects": [{"kind": "ServiceAccount", "name": SA, "namespace": namespace}],
            },
        ]
    )
    kubectl("apply", "-f", "-", input=scoped)
    token = kubectl("create", "token", SA, "-n", namespace, "--duration=1h").stdout.strip()
    config_path = tmp_path / "operator.kubeconfig"
    token_kubeconfig(namespace, token, config_path)
    log_path = cluster_dir() / f"logs/operator-security-{namespace}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pool = NodePool(api, f"sec-{uuid.uuid4().hex[:6]}")
    proc = OperatorProcess(
        log_path,
        args=[
            "--verbose",
            "--namespace",
            namespace,
            "--leader-elect",
            f"--leader-elect-lease-namespace={namespace}",
        ],
        env={**TEST_ENV, "POD_NAME": "security"},
        kubeconfig=str(config_path),
        metrics_port=0,
    )
    log_path.unlink(missing_ok=True)
    proc.start()
    try:
        pool.add(1)
        r = role("w", 2, cpu="10m", memory="16Mi")
        spec = r["template"]["spec"]
        spec["nodeSelector"] = pool.selector
        spec["containers"][0]["env"] = [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
        ]
        groups = PodGroups(api, namespace)
        groups.create(podgroup("uses-secret", r))
        # It works with exactly the install's rights (a refusal would leave it stuck): it admits
        # the gang itself (its event) and reports it running.
        eventually(
            lambda: any(
                e.reason == "Admitted" and e.reporting_instance == "security"
                for e in groups.events("uses-secret")
            ),
            timeout=120,
            what="the operator, under its own account, to admit the gang",
        )
        eventually(
            lambda: (groups.get("uses-secret").get("status") or {}).get("readyMembers") == "2/2",
            timeout=120,
            what="the group running",
        )
        assert proc.alive(), f"the operator exited: {log_path}"
    finally:
        proc.stop()
        pool.delete()
        kubectl("delete", "--ignore-not-found", "-f", "-", input=scoped, check=False)
    text = log_path.read_text(errors="replace")
    assert "uses-secret" in text, "the verbose log does not even mention the group"
    leaks = {
        "the secret's value": secret_value,
        "the secret's value, base64": base64.b64encode(secret_value.encode()).decode(),
        "the service-account token": token,
        "the token's signature": token.rsplit(".", 1)[-1],
    }
    for i, line in enumerate(admin_client_key()):
        leaks[f"the admin's client key ({i})"] = line
    found = [what for what, value in leaks.items() if value in text]
    assert not found, f"{found} in {log_path}"
    assert re.search(r"Bearer\s+\S{20,}", text) is None, "an Authorization header was logged"
