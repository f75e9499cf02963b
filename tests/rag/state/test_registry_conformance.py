"""The knowledge-base registry (`KbRegistry`): every backend, the same behaviour."""

from __future__ import annotations

import threading

import pytest

from rag.config import ChunkerConfig, LexicalConfig
from rag.embed.base import ModelFingerprint
from rag.errors import EmptyIndexError
from rag.manifest import DEFAULT_KB, Manifest
from rag.state.base import StateBackend


def _manifest(name: str = "model-a") -> Manifest:
    model = ModelFingerprint(name=name, sha256="ab" * 32, dimension=4)
    return Manifest.new(model, ChunkerConfig(), LexicalConfig(), "chroma")


def test_empty_then_created_once(state: StateBackend) -> None:
    registry = state.registry()
    assert registry.read() is None
    first = registry.create(_manifest("model-a"))
    assert first.embedder.name == "model-a" and DEFAULT_KB in first.kbs
    second = registry.create(_manifest("model-b"))  # the first writer's manifest stays
    assert second == first and registry.read() == first
    assert state.registry().read() == first  # another handle reads the same


def test_knowledge_bases_are_added_described_and_dropped(state: StateBackend) -> None:
    registry = state.registry()
    with pytest.raises(EmptyIndexError):
        registry.put_kb("hr", "")
    registry.create(_manifest())
    added = registry.put_kb("hr", "leave and pay")
    created = added.kbs["hr"]["created_at"]
    assert added.kbs["hr"]["description"] == "leave and pay"
    renamed = registry.put_kb("hr", "people")
    assert renamed.kbs["hr"] == {"description": "people", "created_at": created}
    assert registry.drop_kb("hr") is True
    assert registry.drop_kb("hr") is False
    manifest = registry.read()
    assert manifest is not None and set(manifest.kbs) == {DEFAULT_KB}


def test_replace_swaps_the_whole_manifest(state: StateBackend) -> None:
    registry = state.registry()
    registry.create(_manifest("model-a"))
    registry.replace(_manifest("model-b"))
    manifest = registry.read()
    assert manifest is not None and manifest.embedder.name == "model-b"


def test_concurrent_additions_are_all_kept(state: StateBackend) -> None:
    state.registry().create(_manifest())
    names = [f"kb_{n}" for n in range(16)]
    threads = [threading.Thread(target=lambda n=n: state.registry().put_kb(n, n)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    manifest = state.registry().read()
    assert manifest is not None and set(names) <= set(manifest.kbs)
