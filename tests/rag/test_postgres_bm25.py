"""BM25 on PostgreSQL against BM25 on SQLite: the same chunks, the same terms, the same
scores (to 1e-6) and the same ranking, on the sample guide (English and Chinese) and on the
whole SciFact corpus, also after removals and with a document filter; so moving a knowledge
base to PostgreSQL does not move its retrieval quality."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rag.config import DatabaseConfig, LexicalConfig, RagConfig
from rag.lexical.analyzer import Analyzer
from rag.lexical.bm25 import BM25Tables, LexicalRow
from rag.state.base import LexicalIndex
from rag.state.postgres import PostgresState
from rag.state.postgres.bm25 import PACK_AT, PgBM25
from tests.support.postgres import bm25_balance

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres(postgres_url: str, tmp_path: Path) -> Iterator[PostgresState]:
    config = RagConfig(data_dir=tmp_path, database=DatabaseConfig(url=SecretStr(postgres_url)))
    state = PostgresState.open(config)
    yield state
    state.close()


def _pair(
    postgres: PostgresState, rows: list[LexicalRow], config: LexicalConfig, pack_at: int = PACK_AT
) -> tuple[LexicalIndex, PgBM25]:
    sqlite = BM25Tables(sqlite3.connect(":memory:", isolation_level=None), "lex", config)
    sqlite.add(rows)
    postgres.catalog("parity", config)  # its tables
    pg = PgBM25(postgres.database, "parity", 0, config, pack_at)
    for start in range(0, len(rows), 1000):
        pg.add(rows[start : start + 1000])
    with postgres.database.connection() as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
    return sqlite, pg


def _same(
    sqlite: LexicalIndex, pg: LexicalIndex, queries: list[list[str]], k: int, **kw: object
) -> int:
    """Each rank's score equal to 1e-6, and the same ids in the same order except among
    chunks whose scores tie to 1e-9 (summed in another order, their last bits differ)."""
    compared = 0
    for query in queries:
        expected = sqlite.search(query, k, **kw)  # type: ignore[arg-type]
        got = pg.search(query, k, **kw)  # type: ignore[arg-type]
        assert len(got) == len(expected), query
        for (_, want), (_, have) in zip(expected, got, strict=True):
            assert have == pytest.approx(want, abs=1e-6)
        assert _ties(got) == _ties(expected), query
        compared += len(expected)
    return compared


def _ties(ranked: list[tuple[str, float]]) -> list[set[str]]:
    """The ids as groups of equal score (to 1e-9), best first; the last group, cut by `k`,
    only as far as its score."""
    groups: list[tuple[float, set[str]]] = []
    for chunk_id, score in ranked:
        if groups and abs(groups[-1][0] - score) <= 1e-9:
            groups[-1][1].add(chunk_id)
        else:
            groups.append((score, {chunk_id}))
    return [ids for _, ids in groups[:-1]]


def _guide_rows(analyzer: Analyzer) -> list[LexicalRow]:
    rows = []
    for name in ("user-guide.md", "用户指南.md"):
        text = (REPO / "examples" / "guide" / name).read_text(encoding="utf-8")
        for n, paragraph in enumerate(p for p in text.split("\n\n") if p.strip()):
            rows.append(LexicalRow(f"{name}-{n}", name, analyzer.terms(paragraph)))
    return rows


@pytest.mark.parametrize("idf", ["okapi", "lucene"])
def test_the_guide_scores_alike(postgres: PostgresState, idf: str) -> None:
    config = LexicalConfig(idf=idf)  # type: ignore[arg-type]
    analyzer = Analyzer(config)
    rows = _guide_rows(analyzer)
    sqlite, pg = _pair(postgres, rows, config)
    queries = [
        analyzer.terms(q)
        for q in (
            "How do I remove a document from the index?",
            "which file formats are supported",
            "如何删除文档",
            "知识库 检索 模型",
            "the the the index",  # a repeated, common term: negative okapi idf floored
        )
    ]
    assert _same(sqlite, pg, queries, 10) > 20
    assert sqlite.count() == pg.count() == len(rows)


@pytest.mark.parametrize("pack_at", [PACK_AT, 5000], ids=["rows", "packed"])
def test_scifact_scores_alike_after_removals_and_filtered(
    postgres: PostgresState, scifact_dir: Path, pack_at: int
) -> None:
    """`packed`: most postings packed into arrays (some left in rows), removed chunks first
    excluded from the arrays, then purged from them, then written again."""
    config = LexicalConfig()
    analyzer = Analyzer(config)
    with (scifact_dir / "corpus.jsonl").open(encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle]
    rows = [
        LexicalRow(f"c{d['_id']}", d["_id"], analyzer.terms(f"{d['title']}\n{d['text']}"))
        for d in corpus
    ]
    with (scifact_dir / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [analyzer.terms(json.loads(line)["text"]) for line in handle][:300]
    sqlite, pg = _pair(postgres, rows, config, pack_at)
    assert _same(sqlite, pg, queries, 10) == 10 * len(queries)
    gone = [r.chunk_id for r in random.Random(3).sample(rows, 500)]
    were_packed = _were_packed(postgres, gone)
    sqlite.remove(gone)  # type: ignore[attr-defined]
    pg.remove(gone)  # type: ignore[attr-defined]
    assert sqlite.count() == pg.count() == len(rows) - 500
    assert _same(sqlite, pg, queries[:100], 100) > 5000
    docs = {r.doc_id for r in random.Random(4).sample(rows, 2000)}
    assert _same(sqlite, pg, queries[:100], 10, doc_ids=docs) > 500
    if pack_at == PACK_AT:
        return
    packed, dead = _packing(postgres)
    # most postings in arrays (the last batch, too small to pack, left in rows); the
    # removed chunks that were packed are excluded from the arrays, not yet purged
    assert packed > 200_000 and 400 < were_packed < 500 and dead == were_packed
    more = [r for r in random.Random(5).sample(rows, 3000) if r.chunk_id not in set(gone)]
    sqlite.remove([r.chunk_id for r in more])  # type: ignore[attr-defined]
    pg.remove([r.chunk_id for r in more])
    assert _packing(postgres)[1] == 0  # past 2000 removed: purged from the arrays
    assert _same(sqlite, pg, queries[:100], 100) > 5000
    back = more[:1000]
    sqlite.add(back)  # type: ignore[attr-defined]
    pg.add(back)
    assert sqlite.count() == pg.count() == len(rows) - 500 - len(more) + 1000
    assert _same(sqlite, pg, queries[:100], 100) > 5000
    assert {r.chunk_id: sorted(r.terms) for r in pg.rows([r.chunk_id for r in rows[:50]])} == {
        r.chunk_id: sorted(r.terms)
        for r in rows[:50]
        if r.chunk_id not in set(gone + [m.chunk_id for m in more[1000:]])
    }


def _were_packed(postgres: PostgresState, chunk_ids: list[str]) -> int:
    """How many of these chunks of the parity index have their postings in arrays."""
    with postgres.database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM rag.lex_docs d JOIN rag.lex_stats s USING (kb, coll) "
            "WHERE d.kb = 'parity' AND d.coll = 0 AND d.chunk_id = ANY(%s) "
            "AND d.num < s.packed_below",
            (chunk_ids,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _packing(postgres: PostgresState) -> tuple[int, int]:
    """(postings in arrays, removed chunks still excluded) of the parity index, whose
    postings are the chunks' own."""
    with postgres.database.connection() as conn:
        held, written, _ = bm25_balance(conn, "parity", 0)
        assert held == written
        row = conn.execute(
            "SELECT packed, dead FROM rag.lex_stats WHERE kb = 'parity' AND coll = 0"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
