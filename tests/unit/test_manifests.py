"""The install manifests: the kustomize base (manifests/), its local overlay, and the Helm chart
(charts/podgroup-operator/) render the same objects, with least-privilege RBAC and a hardened pod.

Needs the pinned kubectl (kustomize is built in) and helm binaries from the cache
(`make binaries`, `hack/image/build-helm.sh`); the tests that render skip, saying which binary is
missing, only when one is. The copies of the CRD and the version pins are checked without them.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts/podgroup-operator"
CRD = REPO / "crds/podgroup.dev_podgroups.yaml"
NAMESPACE = "podgroup-system"
RELEASE = "podgroup-operator"
CACHE = Path(os.environ.get("PGO_CACHE") or Path.home() / ".cache/podgroup-operator")

# The RBAC the operator needs, reviewed: adding a rule means changing this list on purpose.
EXPECTED_RULES = {
    ("podgroup.dev", "podgroups"): {"get", "list", "watch"},
    ("podgroup.dev", "podgroups/status"): {"patch"},
    ("", "pods"): {"get", "list", "watch", "create", "delete", "patch"},
    ("", "pods/resize"): {"patch"},
    ("", "services"): {"get", "list", "watch", "create"},
    ("", "events"): {"create"},
    ("", "nodes"): {"get", "list", "watch"},
    ("metrics.k8s.io", "pods"): {"get", "list"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}
LEADER_ELECTION = "podgroup-operator-leader-election"
# Leader election, in the operator's namespace only: create any Lease (create cannot be limited
# by name), read and renew only its own.
EXPECTED_LEASE_RULES = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "resourceNames": ["podgroup-operator"],
        "verbs": ["get", "update"],
    },
]


def _pinned(name: str, version: str) -> str | None:
    path = CACHE / "bin" / f"{name}-{version}"
    if path.exists():
        return str(path)
    return shutil.which(name)


def _kube_version() -> str:
    """The cluster's Kubernetes version: $KUBE_VERSION, else hack/versions.env's default."""
    text = (REPO / "hack/versions.env").read_text()
    default = re.search(r"^KUBE_VERSION=\$\{KUBE_VERSION:-(\S+)\}$", text, re.M)[1]  # type: ignore[index]
    return os.environ.get("KUBE_VERSION") or default


def _helm_version() -> str:
    text = (REPO / "hack/image/build-helm.sh").read_text()
    return re.search(r"HELM_VERSION=\$\{HELM_VERSION:-(\S+)\}", text)[1]  # type: ignore[index]


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = os.environ.get("KUBECTL") or _pinned("kubectl", _kube_version())
    if not path:
        pytest.skip(
            f"kubectl not found (neither {CACHE}/bin/kubectl-{_kube_version()} nor on PATH): make binaries"
        )
    return path


@pytest.fixture(scope="module")
def helm() -> str:
    path = os.environ.get("HELM") or _pinned("helm", _helm_version())
    if not path:
        pytest.skip(
            f"helm not found (neither {CACHE}/bin/helm-{_helm_version()} nor on PATH): "
            "hack/image/build-helm.sh"
        )
    return path


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}{proc.stdout}"
    return proc.stdout


def objects(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object."""
    out = {}
    for doc in yaml.safe_load_all(text):
        if doc:
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in out, f"{key} rendered twice"
            out[key] = doc
    return out


def kustomize(kubectl: str, folder: str) -> dict[tuple[str, str], dict[str, Any]]:
    return objects(run(kubectl, "kustomize", str(REPO / folder)))


def helm_template(helm: str, *args: str) -> dict[tuple[str, str], dict[str, Any]]:
    return objects(
        run(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds", *args)
    )


@pytest.fixture(scope="module")
def base(kubectl: str) -> dict[tuple[str, str], dict[str, Any]]:
    return kustomize(kubectl, "manifests")


@pytest.fixture(scope="module")
def local(kubectl: str) -> dict[tuple[str, str], dict[str, Any]]:
    return kustomize(kubectl, "manifests/local")


@pytest.fixture(scope="module")
def chart(helm: str) -> dict[tuple[str, str], dict[str, Any]]:
    return helm_template(helm)


def deployment(objs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    return objs[("Deployment", "podgroup-operator")]


def pod_spec(objs: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's pod spec, env sorted by name (order carries no meaning there)."""
    spec = copy.deepcopy(deployment(objs)["spec"]["template"]["spec"])
    for c in spec["containers"]:
        c["env"] = sorted(c.get("env", []), key=lambda e: e["name"])
    return spec


def rules(objs: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in objs[("ClusterRole", "podgroup-operator")]["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# ---------------------------------------------------------------- no binaries needed


@pytest.mark.parametrize(
    "copy_path",
    [
        "manifests/base/crds/podgroup.dev_podgroups.yaml",
        "charts/podgroup-operator/crds/podgroup.dev_podgroups.yaml",
    ],
)
def test_crd_copies_match_the_generated_crd(copy_path: str) -> None:
    # kustomize refuses files outside its folder and Helm installs CRDs from the chart's crds/.
    assert (REPO / copy_path).read_bytes() == CRD.read_bytes(), f"{copy_path} is stale: run `make crds`"


def test_versions_agree_with_pyproject() -> None:
    version = project_version()
    chart_meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_meta["appVersion"] == version
    assert chart_meta["version"] == version
    for folder in ("manifests/base", "manifests/local"):
        kustomization = yaml.safe_load((REPO / folder / "kustomization.yaml").read_text())
        tags = {i["name"]: i["newTag"] for i in kustomization["images"]}
        assert tags == {"registry.local/podgroup-operator": version}, folder


def test_image_lock_matches_pyproject() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "hack/image/lock.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------- kustomize


def test_base_renders_the_operator(base: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert set(base) == {
        ("Namespace", NAMESPACE),
        ("CustomResourceDefinition", "podgroups.podgroup.dev"),
        ("ServiceAccount", "podgroup-operator"),
        ("ClusterRole", "podgroup-operator"),
        ("ClusterRoleBinding", "podgroup-operator"),
        ("Role", LEADER_ELECTION),
        ("RoleBinding", LEADER_ELECTION),
        ("Deployment", "podgroup-operator"),
        ("Service", "podgroup-operator-metrics"),
    }
    for (kind, _), obj in base.items():
        if kind not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == NAMESPACE
    assert (
        base[("CustomResourceDefinition", "podgroups.podgroup.dev")]["spec"]
        == yaml.safe_load(CRD.read_text())["spec"]
    )
    # `make undeploy` keeps the CRD (and so every PodGroup) by this label.
    assert (
        base[("CustomResourceDefinition", "podgroups.podgroup.dev")]["metadata"]["labels"][
            "app.kubernetes.io/component"
        ]
        == "crd"
    )


def test_rbac_is_least_privilege(base: dict[tuple[str, str], dict[str, Any]]) -> None:
    got = rules(base)
    assert got == EXPECTED_RULES
    for (_, resource), verbs in got.items():
        assert "*" not in verbs and resource != "*"
        assert not verbs & {"escalate", "bind", "impersonate"}
    assert not {r for _, r in got} & {"secrets", "configmaps"}
    binding = base[("ClusterRoleBinding", "podgroup-operator")]
    assert binding["roleRef"]["name"] == "podgroup-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "podgroup-operator", "namespace": NAMESPACE}
    ]
    assert pod_spec(base)["serviceAccountName"] == "podgroup-operator"
    assert base[("Role", LEADER_ELECTION)]["rules"] == EXPECTED_LEASE_RULES
    lease_binding = base[("RoleBinding", LEADER_ELECTION)]
    assert lease_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": LEADER_ELECTION,
    }
    assert lease_binding["subjects"] == binding["subjects"]


def test_deployment_is_replicated_with_leader_election_hardened_and_probed_through_kopf(
    base: dict[tuple[str, str], dict[str, Any]],
) -> None:
    dep = deployment(base)
    # Two replicas, one active (the Lease holder); a rolling update overlaps them safely.
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    spec = pod_spec(base)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp"}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    # Liveness: Kopf's endpoint, as the --liveness argument starts it. Readiness: the operator's
    # /readyz on the metrics port (ready only while its watches are established).
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    (liveness_arg,) = [a for a in c["args"] if a.startswith("--liveness=")]
    assert liveness_arg == f"--liveness=http://0.0.0.0:{ports['health']}/healthz"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    env = {e["name"]: e for e in c["env"]}
    assert env["PGO_METRICS_PORT"]["value"] == str(ports["metrics"])
    # The Lease the Role names, in the pod's own namespace.
    assert {"--leader-elect", "--leader-elect-lease-name=podgroup-operator"} <= set(c["args"])
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    service = base[("Service", "podgroup-operator-metrics")]
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_local_overlay_runs_on_the_real_node_with_the_imported_image(
    base: dict[tuple[str, str], dict[str, Any]], local: dict[tuple[str, str], dict[str, Any]]
) -> None:
    assert set(local) == set(base)
    spec = pod_spec(local)
    (c,) = spec["containers"]
    assert c["image"] == f"registry.local/podgroup-operator:{project_version()}"
    assert c["imagePullPolicy"] == "Never"
    assert spec["nodeSelector"] == {"podgroup.dev/node-kind": "real"}
    assert spec["tolerations"] == [
        {"key": "podgroup.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}
    ]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["KUBERNETES_SERVICE_HOST"] == "10.244.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "26443"
    # Everything else is the base's.
    for key in ("nodeSelector", "tolerations"):
        spec.pop(key)
    c.pop("imagePullPolicy")
    c["env"] = [e for e in c["env"] if not e["name"].startswith("KUBERNETES_SERVICE_")]
    base_spec = pod_spec(base)
    base_spec["containers"][0].pop("imagePullPolicy")
    assert spec == base_spec


# ---------------------------------------------------------------- Helm against kustomize


def without_namespace_object(objs: dict[tuple[str, str], dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    # Helm does not own the release's namespace (`helm install --create-namespace` makes it).
    return {(k, n, o["metadata"].get("namespace")) for (k, n), o in objs.items() if k != "Namespace"}


def test_chart_renders_the_same_objects_as_kustomize(
    base: dict[tuple[str, str], dict[str, Any]], chart: dict[tuple[str, str], dict[str, Any]]
) -> None:
    assert without_namespace_object(chart) == without_namespace_object(base)
    assert rules(chart) == rules(base)
    for kind, name in (("ClusterRoleBinding", "podgroup-operator"), ("RoleBinding", LEADER_ELECTION)):
        assert chart[(kind, name)]["roleRef"] == base[(kind, name)]["roleRef"]
        assert chart[(kind, name)]["subjects"] == base[(kind, name)]["subjects"]
    assert chart[("Role", LEADER_ELECTION)]["rules"] == base[("Role", LEADER_ELECTION)]["rules"]
    crd = ("CustomResourceDefinition", "podgroups.podgroup.dev")
    assert chart[crd]["spec"] == base[crd]["spec"]
    svc = ("Service", "podgroup-operator-metrics")
    assert chart[svc]["spec"] == base[svc]["spec"] | {
        "selector": {"app.kubernetes.io/name": "podgroup-operator", "app.kubernetes.io/instance": RELEASE}
    }


def test_chart_deployment_equals_kustomize(
    base: dict[tuple[str, str], dict[str, Any]], chart: dict[tuple[str, str], dict[str, Any]]
) -> None:
    ours, theirs = deployment(chart)["spec"], deployment(base)["spec"]
    assert {k: v for k, v in ours.items() if k != "template"} == {
        k: v for k, v in theirs.items() if k != "template"
    }
    assert ours["template"]["metadata"]["labels"] == theirs["template"]["metadata"]["labels"]
    assert pod_spec(chart) == pod_spec(base)


def test_chart_local_values_equal_the_local_overlay(
    helm: str, local: dict[tuple[str, str], dict[str, Any]]
) -> None:
    chart_local = helm_template(helm, "-f", str(CHART / "values-local.yaml"))
    assert pod_spec(chart_local) == pod_spec(local)


def test_chart_values_reach_the_pod(helm: str) -> None:
    objs = helm_template(
        helm,
        "--set",
        "image.repository=example.org/pgo",
        "--set",
        "image.tag=1.2.3",
        "--set",
        "nodeSelector.pool=ops",
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        "--set",
        "env[0].name=PGO_WORKERS,env[0].value=32",
        "--set",
        "resources.limits.memory=1Gi",
        "--set",
        "clusterDomain=corp.example",
    )
    spec = pod_spec(objs)
    (c,) = spec["containers"]
    assert c["image"] == "example.org/pgo:1.2.3"
    assert spec["nodeSelector"] == {"pool": "ops"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert {"name": "PGO_WORKERS", "value": "32"} in c["env"]
    assert {"name": "PGO_CLUSTER_DOMAIN", "value": "corp.example"} in c["env"]
    assert c["resources"]["limits"]["memory"] == "1Gi"


def test_service_monitor_is_off_by_default_and_scrapes_the_metrics_service(
    helm: str, chart: dict[tuple[str, str], dict[str, Any]]
) -> None:
    assert not [k for k in chart if k[0] == "ServiceMonitor"]
    objs = helm_template(
        helm, "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom"
    )
    monitor = objs[("ServiceMonitor", "podgroup-operator")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = objs[("Service", "podgroup-operator-metrics")]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize(
    "values", [[], ["-f", "values-local.yaml"], ["--set", "serviceMonitor.enabled=true"]]
)
def test_helm_lint(helm: str, values: list[str]) -> None:
    args = [a if not a.endswith(".yaml") else str(CHART / a) for a in values]
    out = run(helm, "lint", "--strict", str(CHART), *args)
    assert "0 chart(s) failed" in out


def test_chart_schema_refuses_a_misspelt_value(helm: str) -> None:
    proc = subprocess.run(
        [helm, "template", RELEASE, str(CHART), "--set", "servicemonitor.enabled=true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "servicemonitor" in proc.stderr
