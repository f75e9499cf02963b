"""The vector cache (`VectorCache`): every backend, the same behaviour."""

from __future__ import annotations

import numpy as np

from rag.state.base import StateBackend


def _vectors(n: int, start: int = 0) -> dict[bytes, np.ndarray]:
    return {f"key-{i}".encode(): np.full(8, i, dtype=np.float32) for i in range(start, start + n)}


def test_put_then_get_what_is_held(state: StateBackend) -> None:
    cache = state.vector_cache(max_mb=16)
    try:
        assert cache.get([b"key-0"]) == {} and len(cache) == 0
        cache.put(_vectors(3))
        found = cache.get([b"key-0", b"key-2", b"missing"])
        assert set(found) == {b"key-0", b"key-2"}
        assert found[b"key-2"].dtype == np.float32 and found[b"key-2"].tolist() == [2.0] * 8
        cache.put({b"key-0": np.ones(8, dtype=np.float32)})  # overwritten, not doubled
        assert cache.get([b"key-0"])[b"key-0"].tolist() == [1.0] * 8 and len(cache) == 3
    finally:
        cache.close()


def test_kept_across_handles(state: StateBackend) -> None:
    first = state.vector_cache(max_mb=16)
    first.put(_vectors(2))
    first.close()
    second = state.vector_cache(max_mb=16)
    try:
        assert set(second.get([b"key-0", b"key-1"])) == {b"key-0", b"key-1"}
    finally:
        second.close()


def test_least_recently_used_go_past_the_size(state: StateBackend) -> None:
    cache = state.vector_cache(max_mb=1)  # 1 MB: about 1000 vectors of 256 floats
    try:
        big = {f"k{i}".encode(): np.zeros(256, dtype=np.float32) for i in range(3000)}
        cache.put(big)
        assert 0 < len(cache) < 3000
        assert cache.get([b"k2999"])  # the newest stay
    finally:
        cache.close()
