"""The compose files in docker/, checked by parsing (no Docker engine runs here): services,
pinned images, published ports, volumes and dependencies; and that each folder's rag.toml
loads and points at the port its compose file publishes."""

from __future__ import annotations

import json
import re
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


def _pinned(image: str) -> bool:
    return ":" in image and not image.endswith(":latest")


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_services_images_and_volumes(folder: str) -> None:
    compose = _compose(folder)
    services = compose["services"]
    assert set(services) == EXPECTED[folder]
    for name, service in services.items():
        assert _pinned(service["image"]), f"{name}: pin {service['image']}"
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


def _instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments out."""
    logical, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def test_the_api_image_is_pinned_unprivileged_and_checks_readiness() -> None:
    steps = _instructions(DOCKER / "Dockerfile")
    bases = [args.split()[0] for op, args in steps if op == "FROM"]
    assert len(bases) == 2, "a build stage and a runtime stage"
    assert all(_pinned(base) for base in bases), bases
    runs = [args for op, args in steps if op == "RUN"]
    torch_at = next(i for i, r in enumerate(runs) if "torch==" in r)
    package_at = next(i for i, r in enumerate(runs) if "pip install '." in r)
    assert torch_at < package_at and "whl/cpu" in runs[torch_at], "the CPU torch first"
    for op, args in steps:
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (DOCKER.parent / source).exists(), f"COPY {source}: not in the repository"
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][-1] :]
    user = [args for op, args in runtime if op == "USER"]
    assert user and user[-1] not in {"root", "0"}
    command = json.loads(next(args for op, args in runtime if op == "CMD"))
    assert command[:2] == ["rag", "serve"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert [args for op, args in runtime if op == "EXPOSE"] == [port]
    health = next(args for op, args in runtime if op == "HEALTHCHECK")
    assert f"127.0.0.1:{port}/readyz" in health
    env = " ".join(args for op, args in runtime if op == "ENV")
    volume = json.loads(next(args for op, args in runtime if op == "VOLUME"))
    assert f"RAG_DATA_DIR={volume[0]}" in env


# The port each server listens on inside its container (its image's default, or the
# `--port` its command sets).
_LISTENS = {
    "ollama": 11434,
    "milvus": 19530,
    "rag-api": 8100,
    "webui": 8080,
    "postgres": 5432,
}
_PROFILES = {"embedded", "ollama", "vllm", "vllm-merged", "milvus", "webui", "cluster"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}")


def _expand(value: str) -> str:
    """Compose's `${NAME:-default}` as its default, `${NAME:?message}` as a test value."""
    return _VARIABLE.sub(lambda m: m.group(2) if m.group(2) is not None else "test-key", value)


def _listens(services: dict, name: str) -> int:  # type: ignore[type-arg]
    command = [_expand(str(part)) for part in services[name].get("command", [])]
    ports = [int(c.split("=", 1)[1]) for c in command if c.startswith("--port=")]
    return ports[0] if ports else _LISTENS[name]


def _checks_health(service: dict) -> bool:  # type: ignore[type-arg]
    """A health check of its own, or our image's (the Dockerfile's HEALTHCHECK)."""
    ours = service.get("build", {}).get("dockerfile") == "docker/Dockerfile"
    return "healthcheck" in service or ours


def test_profiles_pin_images_and_wait_for_healthy_dependencies() -> None:
    compose = _compose(".")
    services = compose["services"]
    assert {p for s in services.values() for p in s["profiles"]} == _PROFILES
    for name, service in services.items():
        assert _pinned(service["image"]), f"{name}: pin {service['image']}"
        assert _checks_health(service), f"{name} has no healthcheck"
        for dependency, how in service.get("depends_on", {}).items():
            assert how["condition"] == "service_healthy", f"{name} -> {dependency}"
            assert set(service["profiles"]) <= set(services[dependency]["profiles"])
        for volume in service.get("volumes", []):
            source = _expand(volume).split(":")[0]
            assert source.startswith(("/", "./")) or source in compose["volumes"], source
    for profile in _PROFILES:
        published = [
            port.rsplit(":", 1)[0]
            for s in services.values()
            if profile in s["profiles"]
            for port in s.get("ports", [])
        ]
        assert len(published) == len(set(published)), f"{profile}: a host port twice"


@pytest.mark.parametrize(
    "api", ["api", "api-ollama", "api-vllm", "api-vllm-merged", "api-milvus", "api-cluster"]
)
def test_every_url_the_api_reads_names_a_service_on_its_port(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _compose(".")["services"]
    env = {k: _expand(str(v)) for k, v in services[api]["environment"].items()}
    assert "rag-api" in services[api]["networks"]["default"]["aliases"]
    for variable, value in env.items():
        if "://" not in value:
            continue
        url = urlsplit(value)
        assert url.hostname in services, f"{variable}: no service {url.hostname}"
        assert set(services[api]["profiles"]) <= set(services[url.hostname]["profiles"])
        assert url.port == _listens(services, url.hostname), f"{variable}: port {url.port}"
        assert url.hostname in services[api].get("depends_on", {}), f"{api} must wait for it"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(DOCKER)  # no rag.toml there: the environment alone
    monkeypatch.delenv("RAG_CONFIG", raising=False)
    config = load_config(None)
    assert [k.get_secret_value() for k in config.api.keys] == ["test-key"]


def test_the_api_asks_vllm_for_the_lora_it_serves() -> None:
    services = _compose(".")["services"]
    command = [_expand(str(part)) for part in services["vllm"]["command"]]
    lora = command[command.index("--enable-lora") + 2].split("=", 1)[0]
    model = _expand(services["api-vllm"]["environment"]["RAG_GENERATOR__MODEL"])
    assert model == lora
    assert any(c.startswith("--served-model-name=") for c in command)
    assert any(c.startswith("--max-model-len=") for c in command)


def test_a_merged_model_needs_no_lora_name() -> None:
    services = _compose(".")["services"]
    command = [_expand(str(part)) for part in services["vllm-merged"]["command"]]
    assert not any("lora" in c for c in command)
    served = next(c.split("=", 1)[1] for c in command if c.startswith("--served-model-name="))
    env = services["api-vllm-merged"]["environment"]
    assert _expand(env["RAG_GENERATOR__MODEL"]) == served
    assert "LORA_NAME" not in json.dumps(services["api-vllm-merged"])


def test_the_build_context_leaves_out_venvs_and_data() -> None:
    ignored = [
        line.strip()
        for line in (DOCKER.parent / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".venv-bench", ".git", ".rag", ".rag-demo"} <= set(ignored)
    for op, args in _instructions(DOCKER / "Dockerfile"):
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert source not in ignored, f"COPY {source} is left out of the context"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "ONNX" not in dockerfile  # the default backend is OpenVINO


def test_open_webui_asks_no_extra_task_generations() -> None:
    env = _compose(".")["services"]["webui"]["environment"]
    for task in ("TITLE", "TAGS", "FOLLOW_UP"):
        assert env[f"ENABLE_{task}_GENERATION"] == "false"


def test_open_webui_reaches_the_api_openai_endpoint() -> None:
    services = _compose(".")["services"]
    url = urlsplit(_expand(services["webui"]["environment"]["OPENAI_API_BASE_URL"]))
    assert url.hostname == "rag-api" and url.port == _LISTENS["rag-api"]
    assert url.path == "/v1"
    dockerfile_port = json.loads(
        next(a for op, a in _instructions(DOCKER / "Dockerfile") if op == "CMD")
    )[-1]
    assert int(dockerfile_port) == _LISTENS["rag-api"]


def test_the_cluster_shares_nothing_but_the_database() -> None:
    """API replicas and workers: the same image and settings, no volume of their own, the
    database URL naming the postgres service; the workers run `rag worker`, with a liveness
    check of their own (the image's checks the API's /readyz)."""
    services = _compose(".")["services"]
    api, worker = services["api-cluster"], services["worker"]
    assert api["environment"] == worker["environment"]
    assert api["volumes"] == worker["volumes"] == []
    assert worker["ports"] == [] and worker["command"][:2] == ["rag", "worker"]
    assert "--alive-file" in worker["command"] and "healthcheck" in worker
    assert api["deploy"]["replicas"] >= 2 and worker["deploy"]["replicas"] >= 2
    url = urlsplit(_expand(api["environment"]["RAG_DATABASE__URL"]))
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert _expand(api["environment"]["RAG_STORE__BACKEND"]) == "pgvector"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
