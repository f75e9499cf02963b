"""The compose files in docker/, checked by parsing (no Docker engine runs here): services,
pinned images, published ports, volumes and dependencies; and that each folder's rag.toml
loads and points at the port its compose file publishes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from rag.config import load_config

DOCKER = Path(__file__).resolve().parents[1] / "docker"
EXPECTED = {
    "chroma": {"chroma"},
    "milvus-standalone": {"etcd", "minio", "standalone"},
    "milvus-cluster": {
        "etcd",
        "minio",
        "mixcoord",
        "proxy",
        "querynode",
        "datanode",
        "streamingnode",
    },
}


def _compose(folder: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DOCKER / folder / "compose.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_services_images_and_volumes(folder: str) -> None:
    compose = _compose(folder)
    services = compose["services"]
    assert set(services) == EXPECTED[folder]
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / folder / source).is_file(), f"{name}: {source} missing"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
        for dependency in service.get("depends_on", {}):
            assert dependency in services
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_rag_toml_points_at_the_published_port(folder: str) -> None:
    config = load_config(DOCKER / folder / "rag.toml")
    published = {
        port.split(":")[-2]
        for service in _compose(folder)["services"].values()
        for port in service.get("ports", [])
    }
    uri = urlsplit(config.store.uri)
    assert uri.hostname == "127.0.0.1" and str(uri.port) in published
    assert config.store.backend == ("chroma" if folder == "chroma" else "milvus")
    # On Milvus, BM25 runs in the server: no local lexical search at query time.
    assert config.retrieval.mode == ("hybrid" if folder == "chroma" else "native_hybrid")


def test_milvus_runs_the_same_version_in_every_role() -> None:
    images = {
        s["image"]
        for folder in ("milvus-standalone", "milvus-cluster")
        for name, s in _compose(folder)["services"].items()
        if name not in {"etcd", "minio"}
    }
    assert len(images) == 1 and next(iter(images)).startswith("milvusdb/milvus:v2.6")
    commands = {
        s["command"][-1]
        for name, s in _compose("milvus-cluster")["services"].items()
        if name not in {"etcd", "minio"}
    }
    assert commands == {"mixcoord", "proxy", "querynode", "datanode", "streamingnode"}
