"""One conformance suite for every vector store backend: Chroma embedded, a Chroma server
(`chroma run`, started here on a free loopback port), Milvus Lite (a local .db file) and a
Milvus server URI (Milvus Lite's own gRPC server, `milvus-lite server`: the code path a
Milvus standalone or cluster takes; a real Milvus server cannot run here) and pgvector (a
real PostgreSQL 18 with pgvector 0.8.6, `tests.support.postgres`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from rag.config import DatabaseConfig, RagConfig, StoreConfig
from rag.errors import StoreError
from rag.state import open_state
from rag.state.base import StateBackend
from rag.stores import And, Filter, NativeLexicalStore, VectorStore, open_store
from rag.types import Chunk

DIM = 8
_names = itertools.count()


BACKENDS = ["chroma", "chroma_server", "milvus_lite", "milvus_server", "pgvector"]


@pytest.fixture(params=BACKENDS)
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], VectorStore]]:
    """Opens a fresh collection (a new one per call) on the backend under test, or reopens
    the one named."""
    kind: str = request.param
    if kind == "chroma":
        config = StoreConfig(backend="chroma")
    elif kind == "chroma_server":
        config = StoreConfig(backend="chroma", uri=request.getfixturevalue("chroma_server"))
    elif kind == "milvus_lite":
        config = StoreConfig(backend="milvus", uri=str(tmp_path / "lite.db"))
    elif kind == "milvus_server":
        config = StoreConfig(backend="milvus", uri=request.getfixturevalue("milvus_server"))
    else:
        config = StoreConfig(backend="pgvector")
    state = _state(request, tmp_path) if kind == "pgvector" else None
    opened: list[VectorStore] = []

    def make(dimension: int = DIM, name: str | None = None) -> VectorStore:
        name = name or f"conformance_{next(_names)}_{kind}"
        named = config.model_copy(update={"collection": name})
        store = open_store(named, tmp_path, dimension, state=state)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
    if state is not None:
        state.close()


def _state(request: pytest.FixtureRequest, tmp_path: Path) -> StateBackend:
    """The PostgreSQL state whose database holds the pgvector tables (a fresh database)."""
    url = request.getfixturevalue("postgres_url")
    config = RagConfig(data_dir=tmp_path, database=DatabaseConfig(url=SecretStr(url)))
    return open_state(config)


def _vector(i: int) -> np.ndarray:
    """Unit vectors: i along one axis, tilted a little towards the next."""
    v = np.zeros(DIM, dtype=np.float32)
    v[i % DIM] = 1.0
    v[(i + 1) % DIM] = 0.1 * (i // DIM + 1)
    return v / np.linalg.norm(v)


def _chunks(n: int, doc: str = "d1") -> list[Chunk]:
    return [
        Chunk(
            f"{doc}-c{i}",
            doc,
            "v1",
            f"chunk {i} of {doc}",
            i,
            f"docs/{doc}.md",
            page=i + 1 if i % 2 else None,
            section=f"Section {i}",
            n_tokens=10 + i,
        )
        for i in range(n)
    ]


def test_upsert_is_idempotent_and_replaces(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    chunks = _chunks(5)
    vectors = np.stack([_vector(i) for i in range(5)])
    store.upsert(chunks, vectors)
    store.upsert(chunks, vectors)
    assert store.count() == 5
    changed = Chunk("d1-c0", "d1", "v2", "new text", 0, "docs/d1.md", None, "S", 3)
    store.upsert([changed], vectors[:1])
    assert store.count() == 5
    assert store.get(["d1-c0", "missing"]) == [changed]


def test_get_round_trips_every_field(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    chunks = _chunks(4)
    store.upsert(chunks, np.stack([_vector(i) for i in range(4)]))
    got = sorted(store.get([c.chunk_id for c in chunks]), key=lambda c: c.chunk_id)
    assert got == chunks


def test_scores_are_cosine_higher_first(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    store.upsert(_chunks(6), np.stack([_vector(i) for i in range(6)]))
    hits = store.search_dense(_vector(2), 6)
    assert hits[0].chunk.chunk_id == "d1-c2"
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    expected = {f"d1-c{i}": float(_vector(i) @ _vector(2)) for i in range(6)}
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.chunk.chunk_id], abs=1e-4)
        assert hit.stage == "dense"
    assert store.search_dense(_vector(2), 0) == []
    assert len(store.search_dense(_vector(2), 50)) == 6


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (Filter("doc_id", "eq", "d2"), {"d2-c0", "d2-c1"}),
        (Filter("doc_id", "ne", "d1"), {"d2-c0", "d2-c1"}),
        (Filter("doc_id", "in", ("d2", "d3")), {"d2-c0", "d2-c1"}),
        (Filter("index", "gt", 2), {"d1-c3"}),
        (Filter("index", "gte", 2), {"d1-c2", "d1-c3"}),
        (Filter("index", "lt", 1), {"d1-c0", "d2-c0"}),
        (Filter("index", "lte", 1), {"d1-c0", "d1-c1", "d2-c0", "d2-c1"}),
        (Filter("page", "eq", 2), {"d1-c1", "d2-c1"}),
        (Filter("source", "eq", "docs/d1.md"), {"d1-c0", "d1-c1", "d1-c2", "d1-c3"}),
        (And((Filter("doc_id", "eq", "d1"), Filter("index", "lte", 1))), {"d1-c0", "d1-c1"}),
    ],
)
def test_every_filter_operator(
    make_store: Callable[[], VectorStore], where: Filter | And, expected: set[str]
) -> None:
    store = make_store()
    chunks = _chunks(4) + _chunks(2, "d2")
    store.upsert(chunks, np.stack([_vector(i) for i in range(6)]))
    hits = store.search_dense(_vector(0), 10, where)
    assert {h.chunk.chunk_id for h in hits} == expected


def test_delete_by_id_and_by_filter_leaves_no_ghosts(
    make_store: Callable[[], VectorStore],
) -> None:
    store = make_store()
    chunks = _chunks(4) + _chunks(3, "d2")
    vectors = np.stack([_vector(i) for i in range(7)])
    store.upsert(chunks, vectors)
    store.delete(["d1-c0", "nothing-here"])
    assert store.count() == 6 and store.get(["d1-c0"]) == []
    assert "d1-c0" not in {h.chunk.chunk_id for h in store.search_dense(vectors[0], 10)}
    store.delete_where(Filter("doc_id", "eq", "d2"))
    assert store.count() == 3
    left = {h.chunk.chunk_id for h in store.search_dense(vectors[4], 10)}
    assert left == {"d1-c1", "d1-c2", "d1-c3"}


def test_bad_input_is_refused(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    with pytest.raises(StoreError, match="2 chunks but 1 vectors"):
        store.upsert(_chunks(2), np.stack([_vector(0)]))
    assert store.count() == 0


def test_a_sibling_collection_shares_the_connection_not_the_data(
    make_store: Callable[[], VectorStore],
) -> None:
    store = make_store()
    sibling = store.sibling(f"sibling_{next(_names)}")
    store.upsert(_chunks(3), np.stack([_vector(i) for i in range(3)]))
    sibling.upsert(_chunks(2, "s"), np.stack([_vector(i) for i in range(2)]))
    assert (store.count(), sibling.count()) == (3, 2)
    assert {h.chunk.doc_id for h in sibling.search_dense(_vector(0), 10)} == {"s"}
    sibling.delete_where(Filter("doc_id", "eq", "s"))
    assert (store.count(), sibling.count()) == (3, 0)


def test_scan_returns_every_chunk_with_its_vector(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    chunks = _chunks(7)
    vectors = np.stack([_vector(i) for i in range(7)])
    store.upsert(chunks, vectors)
    seen: dict[str, tuple[Chunk, np.ndarray]] = {}
    for part, part_vectors in store.scan(batch=3):
        assert len(part) == len(part_vectors) <= 3
        seen.update({c.chunk_id: (c, v) for c, v in zip(part, part_vectors, strict=True)})
    assert sorted(seen) == sorted(c.chunk_id for c in chunks)
    for i, chunk in enumerate(chunks):
        assert seen[chunk.chunk_id][0] == chunk
        np.testing.assert_allclose(seen[chunk.chunk_id][1], vectors[i], atol=1e-6)


def test_rank_dense_is_search_dense_without_the_chunks(
    make_store: Callable[[], VectorStore],
) -> None:
    store = make_store()
    store.upsert(_chunks(6) + _chunks(3, "d2"), np.stack([_vector(i) for i in range(9)]))
    for where in (None, Filter("doc_id", "eq", "d2")):
        hits = store.search_dense(_vector(2), 4, where)
        ranked = store.rank_dense(_vector(2), 4, where)
        assert [i for i, _ in ranked] == [h.chunk.chunk_id for h in hits]
        np.testing.assert_allclose([s for _, s in ranked], [h.score for h in hits], atol=1e-5)
    assert store.rank_dense(_vector(0), 0) == []


def test_vectors_by_id_are_the_stored_ones(make_store: Callable[[], VectorStore]) -> None:
    store = make_store()
    chunks = _chunks(5)
    vectors = np.stack([_vector(i) for i in range(5)])
    store.upsert(chunks, vectors)
    got = store.vectors(["d1-c3", "d1-c0", "missing"])
    assert sorted(got) == ["d1-c0", "d1-c3"]
    np.testing.assert_allclose(got["d1-c3"], vectors[3], atol=1e-6)
    np.testing.assert_allclose(got["d1-c0"], vectors[0], atol=1e-6)
    assert store.vectors([]) == {}


def test_deep_dense_search_finds_the_true_nearest(
    make_store: Callable[..., VectorStore],
) -> None:
    """Fusion takes 300 candidates from dense search: an approximate index must still find
    the true nearest 300 (Milvus Lite's HNSW found 88% of them here before ef grew with k)."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk(f"c{i}", f"d{i}", "v1", f"text {i}", 0, "s.md") for i in range(3000)]
    name = f"deep_{next(_names)}"
    store = make_store(32, name)
    for start in range(0, 3000, 1000):
        store.upsert(chunks[start : start + 1000], vectors[start : start + 1000])
    store.close()  # an embedded store builds its index; reopen as a reader does
    store = make_store(32, name)
    recall = []
    for query in rng.standard_normal((10, 32)).astype(np.float32):
        exact = {f"c{i}" for i in np.argsort(-(vectors @ query))[:300]}
        recall.append(len(exact & {h.chunk.chunk_id for h in store.search_dense(query, 300)}))
    assert min(recall) >= 0.97 * 300, recall


def test_native_text_search_where_the_store_has_it(
    make_store: Callable[[], VectorStore],
) -> None:
    """Milvus runs BM25 and dense + BM25 RRF itself (Lite and server URI alike); Chroma
    does not claim to."""
    store = make_store()
    chunks = [
        Chunk(f"c{i}", f"d{i}", "v1", text, 0, f"{i}.md")
        for i, text in enumerate(
            [
                "annual leave is twenty days",
                "the cafeteria opens at eight",
                "员工每年享有二十天年假",
            ]
        )
    ]
    store.upsert(chunks, np.stack([_vector(i) for i in range(3)]))
    if not isinstance(store, NativeLexicalStore):
        assert store.__class__.__name__ in ("ChromaStore", "PgVectorStore")
        return
    lexical = store.search_lexical("cafeteria", 3)
    assert [h.chunk.chunk_id for h in lexical] == ["c1"] and lexical[0].score > 0
    assert [h.chunk.chunk_id for h in store.search_lexical("年假", 3)] == ["c2"]
    fused = store.search_hybrid("cafeteria", _vector(0), 3, candidates=3, rrf_k=60)
    assert {h.chunk.chunk_id for h in fused[:2]} == {"c0", "c1"}  # dense's best, BM25's best
    assert all(h.stage == "native_hybrid" for h in fused)
    where = Filter("doc_id", "ne", "d1")
    assert "c1" not in {h.chunk.chunk_id for h in store.search_lexical("cafeteria", 3, where)}
