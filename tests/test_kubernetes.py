"""The Kubernetes manifests in deploy/kubernetes, checked by parsing (no cluster runs here):
what kustomize applies exists, images are pinned, the API and the workers read the same
settings from the secret the example names, probes hit routes the service declares, and the
Service reaches the port the API listens on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

KUBE = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBE / name).read_text(encoding="utf-8")) if d]


def _kind(kind: str, name: str) -> dict[str, Any]:
    for file in _kustomized():
        for doc in _documents(file):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} {name}")


def _kustomized() -> list[str]:
    return list(_documents("kustomization.yaml")[0]["resources"])


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_resource_kustomize_applies_parses_with_pinned_images() -> None:
    kinds = set()
    for file in _kustomized():
        assert (KUBE / file).is_file(), file
        for doc in _documents(file):
            kinds.add(doc["kind"])
            for container in (
                doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            ):
                image = container["image"]
                assert ":" in image and not image.endswith(":latest"), image
    assert {"Namespace", "Service", "StatefulSet", "Deployment"} <= kinds
    assert "secret.example.yaml" not in _kustomized()  # real secrets stay out of the repo


def test_api_and_workers_read_the_same_settings_from_the_secret() -> None:
    api, worker = _kind("Deployment", "rag-api"), _kind("Deployment", "rag-worker")
    assert _container(api)["env"] == _container(worker)["env"]
    secret = _documents("secret.example.yaml")[0]
    for variable in _container(api)["env"]:
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"], ref
    names = {v["name"] for v in _container(api)["env"]}
    assert {"RAG_DATABASE__URL", "RAG_STORE__BACKEND", "RAG_API__KEYS"} <= names
    assert api["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 2
    assert _container(worker)["command"][:2] == ["rag", "worker"]
    assert "ports" not in _container(worker)
    assert "--alive-file" in _container(worker)["command"]


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_api_probes_hit_declared_public_routes(probe: str) -> None:
    from api.app import create_app

    paths = set(create_app().openapi()["paths"])
    check = _container(_kind("Deployment", "rag-api"))[probe]["httpGet"]
    assert check["path"] in paths and check["port"] == 8100


def test_the_service_reaches_the_port_the_api_listens_on() -> None:
    container = _container(_kind("Deployment", "rag-api"))
    command = container["command"]
    port = int(command[command.index("--port") + 1])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    service = _kind("Service", "rag-api")
    assert service["spec"]["ports"][0]["targetPort"] == port
    assert (
        service["spec"]["selector"]
        == _kind("Deployment", "rag-api")["spec"]["selector"]["matchLabels"]
    )
    url = _documents("secret.example.yaml")[0]["stringData"]["database-url"]
    assert "@postgres:5432/" in url  # the Service postgres.yaml defines
    assert _kind("Service", "postgres")["spec"]["ports"][0]["port"] == 5432
