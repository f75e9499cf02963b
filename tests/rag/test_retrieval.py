"""Retrievers over a real Chroma index of SciFact documents: the two-level search, hybrid
stage scores, and the lexical and summary indexes after delete, change and prune (on
Chroma and on Milvus Lite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rag.config import GeneratorConfig, RagConfig, RetrievalConfig, StoreConfig
from rag.generate.openai_backend import OpenAIBackend
from rag.retrieve import create_retriever
from rag.retrieve.multihop import MultiHopRetriever
from rag.retrieve.rewrite import first_line
from rag.retrieve.two_level import TwoLevelRetriever
from rag.types import Filters, Hit
from tests.support.app import delete, index_of, ingest_corpus
from tests.support.llama import free_port

QUERY = "vitamin D deficiency and bone mineral density"


@pytest.fixture(scope="module")
def corpus(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 SciFact documents, plus the 3 the query's terms best describe."""
    with (scifact_dir / "corpus.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle]
    chosen = rows[:60] + [r for r in rows[60:] if "vitamin D" in r["text"]][:3]
    file = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    file.write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def built(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> RagConfig:
    config = RagConfig(data_dir=tmp_path_factory.mktemp("index"))
    assert ingest_corpus(config, corpus).exit_code == 0
    return config


def _with(config: RagConfig, **retrieval: object) -> RagConfig:
    return config.model_copy(update={"retrieval": RetrievalConfig(**retrieval)})  # type: ignore[arg-type]


def test_two_level_hits_come_from_chosen_documents_or_the_global_search(
    built: RagConfig, embedder
) -> None:  # type: ignore[no-untyped-def]
    config = _with(built, mode="two_level", summary_docs=3, candidates=20)
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder)
        assert isinstance(retriever, TwoLevelRetriever)
        chosen = dict(retriever.documents(QUERY, embedder.embed_query(QUERY)))
        hits = retriever.retrieve(QUERY, k=10)
    assert len(chosen) == 3
    assert len(hits) == 10
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        stages = {s.stage for s in hit.stages}
        assert hit.stage == "two_level" and "two_level" in stages
        # A hit is scored by the search inside the chosen documents, or by the global one.
        assert ("local" in stages) == (hit.chunk.doc_id in chosen)
        assert stages & {"local", "global"}
    assert "vitamin" in hits[0].chunk.text.lower()


def test_two_level_without_global_search_keeps_to_chosen_documents(
    built: RagConfig, embedder
) -> None:  # type: ignore[no-untyped-def]
    config = _with(built, mode="two_level", summary_docs=2, global_weight=0.0)
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder)
        assert isinstance(retriever, TwoLevelRetriever)
        chosen = {d for d, _ in retriever.documents(QUERY, embedder.embed_query(QUERY))}
        hits = retriever.retrieve(QUERY, k=50)
    assert len(chosen) == 2
    assert hits and {h.chunk.doc_id for h in hits} <= chosen
    # Scored, not all returned unscored: scores differ and follow the ranking.
    assert len({round(h.score, 9) for h in hits}) > 1


def test_hybrid_hits_keep_every_stage_score(built: RagConfig, embedder) -> None:  # type: ignore[no-untyped-def]
    config = _with(built, mode="hybrid")
    with index_of(config, embedder) as index:
        hits = create_retriever(config, index, embedder).retrieve(QUERY, k=5)
    top = {s.stage: s for s in hits[0].stages}
    assert set(top) == {"dense", "feedback", "bm25", "fused"}
    assert top["fused"].rank == 1 and top["fused"].score == hits[0].score
    assert -1.0 <= top["dense"].score <= 1.0 and top["bm25"].score > 0
    # The feedback search scored the same chunk with the moved query vector.
    assert -1.0 <= top["feedback"].score <= 1.0 and top["feedback"].score != top["dense"].score


def test_feedback_moves_the_query_toward_its_best_documents(built: RagConfig, embedder) -> None:  # type: ignore[no-untyped-def]
    """Rocchio: the second dense search's query is the question plus the mean vector of the
    first ranking's best documents, so those documents rank higher in it than in the first."""
    on, off = _with(built, mode="hybrid"), _with(built, mode="hybrid", feedback_docs=0)
    with index_of(on, embedder) as index:
        with_feedback = create_retriever(on, index, embedder).retrieve(QUERY, k=20)
        without = create_retriever(off, index, embedder).retrieve(QUERY, k=20)
    assert all("feedback" not in {s.stage for s in h.stages} for h in without)
    best = without[0]
    stages = {
        s.stage: s
        for h in with_feedback
        if h.chunk.chunk_id == best.chunk.chunk_id
        for s in h.stages
    }
    assert stages["feedback"].score > stages["dense"].score
    assert {h.chunk.doc_id for h in with_feedback[:3]} & {h.chunk.doc_id for h in without[:3]}


def _unique_term(corpus: Path) -> tuple[str, str]:
    """(doc id, a word found in that document's text only)."""
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    counts: dict[str, int] = {}
    for row in rows:
        for word in set(row["text"].lower().split()):
            counts[word] = counts.get(word, 0) + 1
    for row in rows:
        for word in row["text"].lower().split():
            if word.isalpha() and len(word) > 8 and counts[word] == 1:
                return row["_id"], word
    raise AssertionError("no unique word")


def _found(config: RagConfig, embedder, doc_id: str, word: str) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    with index_of(config, embedder) as index:
        vector = embedder.embed_query(word)
        chunk_ids = {i for i, _ in index.search_lexical(word, 50)}
        return {
            "bm25": any(c.doc_id == doc_id for c in index.chunks(sorted(chunk_ids)).values()),
            "summary_bm25": doc_id in dict(index.search_summaries_lexical(word, 50)),
            "summary_dense": doc_id in dict(index.search_summaries(vector, 100)),
            "dense": any(h.chunk.doc_id == doc_id for h in index.search(vector, 1000)),
        }


def _stored(config: RagConfig, embedder) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(chunks, summaries) in the vector stores, each checked against the catalog."""
    with index_of(config, embedder) as index:
        assert index._store.count() == index.count_chunks()
        assert index._summaries.count() == index.catalog.count_documents()
        return index._store.count(), index._summaries.count()


def _postings(config: RagConfig) -> tuple[int, int]:
    """(chunk rows in the chunk BM25 table, rows in the summary BM25 table)."""
    with sqlite3.connect(config.data_dir / "catalog.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        docs = [t for t in tables if t.endswith("_docs")]
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in docs}
    summary = sum(n for t, n in counts.items() if "summar" in t)
    return sum(counts.values()) - summary, summary


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_delete_leaves_no_ghost_hits(corpus: Path, tmp_path: Path, embedder, backend: str) -> None:  # type: ignore[no-untyped-def]
    config = RagConfig(data_dir=tmp_path / "index", store=StoreConfig(backend=backend))
    ingest_corpus(config, corpus)
    doc_id, word = _unique_term(corpus)
    assert _found(config, embedder, doc_id, word) == dict.fromkeys(
        ("bm25", "summary_bm25", "summary_dense", "dense"), True
    )
    chunks_before, summaries_before = _postings(config)
    with index_of(config, embedder) as index:
        own = len(index.catalog.chunk_ids(doc_id))

    assert delete(config, doc_id)
    assert not any(_found(config, embedder, doc_id, word).values())
    assert _postings(config) == (chunks_before - own, summaries_before - 1)


@pytest.mark.parametrize("backend", ["chroma", "milvus"])
def test_changed_and_pruned_documents_leave_no_ghost_hits(
    corpus: Path, tmp_path: Path, embedder, backend: str
) -> None:  # type: ignore[no-untyped-def]
    config = RagConfig(data_dir=tmp_path / "index", store=StoreConfig(backend=backend))
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    file = tmp_path / "corpus.jsonl"
    file.write_text(corpus.read_text(), encoding="utf-8")
    ingest_corpus(config, file)
    doc_id, word = _unique_term(corpus)

    # Change the document so that the word is gone: its old chunks and summary go with it.
    changed = [
        {**r, "text": "Replaced abstract about sleep and memory."} if r["_id"] == doc_id else r
        for r in rows
    ]
    file.write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    assert ingest_corpus(config, file).count("parsed") == 1
    found = _found(config, embedder, doc_id, word)
    assert not found["bm25"] and not found["summary_bm25"]
    assert _stored(config, embedder)[1] == len(rows)
    chunks, summaries = _postings(config)
    assert summaries == len(rows)
    assert chunks == _stored(config, embedder)[0]

    # Prune a document that left the corpus.
    gone, gone_word = _unique_term(file)
    kept = [r for r in changed if r["_id"] != gone]
    file.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    ingest_corpus(config, file, prune=True)
    assert not any(_found(config, embedder, gone, gone_word).values())
    assert _postings(config)[1] == len(rows) - 1 == _stored(config, embedder)[1]
    assert _postings(config)[0] == _stored(config, embedder)[0] < chunks


def test_two_hops_search_again_from_the_best_documents(built: RagConfig, embedder) -> None:  # type: ignore[no-untyped-def]
    """hops = 2: one follow-up per best document of the first search (the question with
    that document's passage), fused with the first by weighted reciprocal rank."""
    config = _with(built, mode="hybrid", hops=2, hop_docs=2)
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder)
        assert isinstance(retriever, MultiHopRetriever)
        asked = _spied(retriever)
        hits = retriever.retrieve(QUERY, k=10)
        one_hop = create_retriever(_with(built, mode="hybrid"), index, embedder).retrieve(QUERY, 10)
    assert len(asked) == 3 and asked[0] == QUERY
    seeds = list(dict.fromkeys(h.chunk.doc_id for h in one_hop))[:2]
    assert all(q.startswith(QUERY + "\n") for q in asked[1:])
    assert {h.chunk.doc_id for h in one_hop if h.chunk.text[:50] in "".join(asked[1:])} >= set(
        seeds
    )
    assert len(hits) == 10 and all(h.stage == "hops" for h in hits)
    assert hits[0].chunk.chunk_id == one_hop[0].chunk.chunk_id  # the first hop's best stays
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


class _Recording:
    """The real chat backend, its prompts and replies kept for the assertions."""

    def __init__(self, chat: OpenAIBackend) -> None:
        self.chat, self.prompts, self.replies = chat, list[str](), list[str]()

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        self.prompts.append(prompt)
        self.replies.append(self.chat.complete(prompt, max_tokens=max_tokens, timeout_s=timeout_s))
        return self.replies[-1]


def _spied(retriever: MultiHopRetriever) -> list[str]:
    asked: list[str] = []
    first = retriever._first
    original = first.retrieve

    def spy(query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        asked.append(query)
        return original(query, k, filters)

    first.retrieve = spy  # type: ignore[method-assign]
    return asked


def test_with_a_model_the_model_writes_the_follow_up(
    built: RagConfig, embedder, llama_server: str
) -> None:  # type: ignore[no-untyped-def]
    """IRCoT-style: the real llama.cpp server reads the question and the first hop's best
    passages and writes one follow-up query, which is searched as written."""
    config = _with(built, mode="hybrid", hops=2, hop_docs=2)
    chat = _Recording(
        OpenAIBackend(GeneratorConfig(backend="openai", base_url=llama_server, model="tiny"))
    )
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder, chat=chat)
        assert isinstance(retriever, MultiHopRetriever)
        asked = _spied(retriever)
        hits = retriever.retrieve(QUERY, k=10)
        single = create_retriever(_with(built, mode="hybrid"), index, embedder)
        one_hop = single.retrieve(QUERY, 100)
        written = first_line(chat.replies[0])
        followed = [h for q in asked[1:] for h in single.retrieve(q, 100)]
    assert len(chat.prompts) == 1 and QUERY in chat.prompts[0]
    assert one_hop[0].chunk.text[:100] in chat.prompts[0]  # it read the first hop's best passage
    if written:  # the tiny model's words, searched as written
        assert asked == [QUERY, written]
    else:  # nothing usable: the passage follow-ups instead
        assert len(asked) == 3 and all(q.startswith(QUERY + "\n") for q in asked[1:])
    # Fused from the two hops' lists, the stage says so.
    assert len(hits) == 10 and all(h.stage == "hops" for h in hits)
    found = {h.chunk.chunk_id for h in one_hop + followed}
    assert {h.chunk.chunk_id for h in hits} <= found


def test_a_model_that_fails_falls_back_to_the_passages(
    built: RagConfig, embedder, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    config = _with(built, mode="hybrid", hops=2, hop_docs=2)
    gone = GeneratorConfig(
        backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="tiny", retries=0
    )
    with index_of(config, embedder) as index:
        retriever = create_retriever(config, index, embedder, chat=OpenAIBackend(gone))
        assert isinstance(retriever, MultiHopRetriever)
        asked = _spied(retriever)
        hits = retriever.retrieve(QUERY, k=10)
    assert len(asked) == 3 and all(q.startswith(QUERY + "\n") for q in asked[1:])
    assert len(hits) == 10
    assert "the model did not write a follow-up" in caplog.text
