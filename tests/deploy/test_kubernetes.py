"""deploy/k8s rendered offline (no cluster here) and every manifest validated against the
Kubernetes schemas (``kubernetes-validate``, strict: unknown fields are errors); then what
the manifests promise: probes on the admin port, the grace period matching the drain
timeout, rolling updates a PodDisruptionBudget protects, the config valid for Plano."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.kustomize import Doc, kubectl_render, render

from plano.config import check_config

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ["base", "overlays/external", "overlays/in-cluster"]
#: The oldest Kubernetes still widely run, and a recent one.
VERSIONS = ["1.29", "1.33"]
#: What the user puts in the plano-secrets Secret (docs/deploy.md).
USER_SECRETS = {"OPENAI_API_KEY", "PLANO_ADMIN_KEY"}


def _rendered(folder: str) -> list[Doc]:
    docs = kubectl_render(K8S / folder)
    return docs if docs is not None else render(K8S / folder)


def _base_name(name: str) -> str:
    return re.sub(r"-[a-z0-9]{10}$", "", name)


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and _base_name(d["metadata"]["name"]) == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _config() -> dict[str, Any]:
    data = yaml.safe_load((K8S / "base" / "config.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("renderer", ["kustomize", "small"])
@pytest.mark.parametrize("folder", OVERLAYS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_is_valid(renderer: str, folder: str, version: str) -> None:
    docs = kubectl_render(K8S / folder) if renderer == "kustomize" else render(K8S / folder)
    if docs is None:
        pytest.skip("kubectl is not installed (the small renderer's output is validated)")
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        # Raises ValidationError naming the field; strict: misspelt fields fail too.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_catches_a_misspelt_field() -> None:
    deployment = _one(render(K8S / "base"), "Deployment", "plano")
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["readinessProbes"] = pod["containers"][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_the_small_renderer_agrees_with_kustomize() -> None:
    for folder in OVERLAYS:
        real = kubectl_render(K8S / folder)
        if real is None:
            pytest.skip("kubectl is not installed; the small renderer alone is used")
        ours = render(K8S / folder)

        def names(docs: list[Doc]) -> set[tuple[str, str, str]]:
            return {
                (d["kind"], _base_name(d["metadata"]["name"]), d["metadata"].get("namespace", ""))
                for d in docs
            }

        assert names(real) == names(ours), folder


@pytest.fixture(scope="module")
def stack() -> list[Doc]:
    return _rendered("overlays/in-cluster")


def _gateway(docs: list[Doc]) -> tuple[Doc, Doc]:
    deployment = _one(docs, "Deployment", "plano")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def _port(container: Doc, name: str) -> int:
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == name))


def test_probes_hit_the_admin_listener(stack: list[Doc]) -> None:
    _, c = _gateway(stack)
    gateway = _config()["gateway"]
    assert _port(c, "admin") == gateway["admin_port"]
    assert _port(c, "http") == _config()["listeners"][0]["port"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_grace_period_matches_the_drain_timeout(stack: list[Doc]) -> None:
    deployment, c = _gateway(stack)
    drain = float(str(_config()["gateway"]["drain_timeout"]).rstrip("s"))
    pre_stop = float(c["lifecycle"]["preStop"]["exec"]["command"][1])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The pod is killed only after the preStop sleep and the whole drain, with a margin.
    assert drain + pre_stop < grace <= drain + pre_stop + 15


def test_rolling_updates_keep_capacity(stack: list[Doc]) -> None:
    deployment, c = _gateway(stack)
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = _one(stack, "PodDisruptionBudget", "plano")
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = _one(stack, "HorizontalPodAutoscaler", "plano")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # with minAvailable 1, a drain never empties it
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    # An HPA on CPU needs a CPU request; the worker count follows it (one per CPU).
    assert int(c["resources"]["requests"]["cpu"]) <= _config()["gateway"]["workers"]


def test_service_selects_the_gateway_and_its_named_ports(stack: list[Doc]) -> None:
    deployment, c = _gateway(stack)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _one(stack, "Service", "plano")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    names = {p["name"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= names
    metrics = _config()["metrics"]["port"]
    assert _port(c, "metrics") == metrics
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics)


def test_config_comes_from_the_generated_configmap(stack: list[Doc]) -> None:
    deployment, c = _gateway(stack)
    pod = deployment["spec"]["template"]["spec"]
    cm = _one(stack, "ConfigMap", "plano-config")
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == cm["metadata"]["name"]  # the hashed name: rolls
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == volume["name"]]
    # A whole-folder mount (no subPath): Kubernetes updates it in place and the
    # gateway's watch_config reloads it without a restart.
    assert "subPath" not in mount
    assert c["args"][1] == f"{mount['mountPath']}/config.yaml"
    assert "config.yaml" in cm["data"]


def test_the_configmap_is_a_valid_plano_config(stack: list[Doc]) -> None:
    cm = _one(stack, "ConfigMap", "plano-config")
    data = yaml.safe_load(cm["data"]["config.yaml"])
    wanted = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", yaml.safe_dump(data)))
    stores = _one(stack, "Secret", "plano-stores")
    provided = USER_SECRETS | set(stores["data"])
    assert wanted <= provided, wanted - provided
    env = {name: "redis://x:6379/0" if "REDIS" in name else "v" * 20 for name in wanted}
    env["PLANO_DATABASE_URL"] = "postgresql://u:p@db:5432/plano"
    config, issues = check_config(data, env, K8S / "base")
    assert config is not None, [str(i) for i in issues]
    assert config.gateway.watch_config and config.gateway.admin_key


def test_pods_run_unprivileged(stack: list[Doc]) -> None:
    for kind in ("Deployment", "StatefulSet"):
        for doc in (d for d in stack if d["kind"] == kind):
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for c in pod["containers"]:
                assert c["securityContext"]["allowPrivilegeEscalation"] is False
                assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_in_cluster_stores_match_the_secret(stack: list[Doc]) -> None:
    import base64

    stores = _one(stack, "Secret", "plano-stores")
    urls = {k: base64.b64decode(v).decode() for k, v in stores["data"].items()}
    redis = _one(stack, "Service", "plano-redis")
    postgres = _one(stack, "Service", "plano-postgres")
    assert (
        f"//{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}/"
        in (urls["PLANO_REDIS_URL"])
    )
    assert (
        f"@{postgres['metadata']['name']}:{postgres['spec']['ports'][0]['port']}/"
        in (urls["PLANO_DATABASE_URL"])
    )
