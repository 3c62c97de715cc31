"""Rendering deploy/k8s offline: ``kubectl kustomize`` when it is installed, else a small
renderer of the kustomize features the manifests use (resources, namespace, labels,
configMap/secret generators with a content-hash suffix and the references to them)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

_NAMESPACED_NOT = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def kubectl_render(folder: Path) -> list[Doc] | None:
    """``kubectl kustomize`` (real kustomize), or ``None`` when kubectl is missing."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {folder} failed:\n{done.stderr}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _hash(doc: Doc) -> str:
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _generated(folder: Path, kind: str, spec: Doc) -> Doc:
    data: dict[str, str] = {}
    for name in spec.get("files", []):
        data[Path(name).name] = (folder / name).read_text()
    for name in spec.get("envs", []):
        for line in (folder / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    for literal in spec.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        doc["type"] = "Opaque"
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        doc["data"] = data
    doc["metadata"]["name"] = f"{spec['name']}-{_hash(doc)}"
    return doc


def _pod_spec(doc: Doc) -> Doc | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: Doc = doc["spec"]["template"]["spec"]
        return spec
    return None


def _rename_references(docs: list[Doc], renamed: dict[tuple[str, str], str]) -> None:
    for doc in docs:
        pod = _pod_spec(doc)
        if pod is None:
            continue
        for volume in pod.get("volumes", []):
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                ref = volume.get(key)
                name_key = "name" if kind == "ConfigMap" else "secretName"
                if ref and (kind, ref.get(name_key)) in renamed:
                    ref[name_key] = renamed[(kind, ref[name_key])]
        for container in pod.get("containers", []):
            for source in container.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    ref = source.get(key)
                    if ref and (kind, ref.get("name")) in renamed:
                        ref["name"] = renamed[(kind, ref["name"])]


def render(folder: Path) -> list[Doc]:
    """The kustomization in ``folder``, rendered by the subset this repository uses."""
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for entry in k.get("resources", []):
        path = folder / entry
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    renamed: dict[tuple[str, str], str] = {}
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for spec in k.get(key, []):
            doc = _generated(folder, kind, spec)
            renamed[(kind, spec["name"])] = doc["metadata"]["name"]
            docs.append(doc)
    _rename_references(docs, renamed)
    for labels in k.get("labels", []):
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(labels["pairs"])
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] not in _NAMESPACED_NOT:
                doc["metadata"]["namespace"] = k["namespace"]
    return docs
