"""Slow benchmark (`pytest -m slow -s`): our BM25 index against rank-bm25 on SciFact.

Same analyzer, same tokens, okapi idf (rank-bm25's formula): the rankings must be equal,
so the comparison is of cost only. rank-bm25 lives in memory and must be rebuilt in every
process (and by Chatchat on every query); ours is SQLite on disk, updated incrementally,
and opening it costs nothing. Figures, measured in one run, are printed, not asserted.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from rag.config import LexicalConfig
from rag.lexical.analyzer import Analyzer
from rag.lexical.bm25 import BM25Tables, LexicalRow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_bm25_against_rank_bm25(scifact_dir: Path, tmp_path: Path) -> None:
    config = LexicalConfig(idf="okapi")
    analyzer = Analyzer(config)
    with (scifact_dir / "corpus.jsonl").open() as handle:
        rows = [json.loads(line) for line in handle]
    with (scifact_dir / "queries.jsonl").open() as handle:
        queries = [json.loads(line)["text"] for line in handle][:300]
    docs = [analyzer.terms(f"{r['title']}\n{r['text']}") for r in rows]
    ids = [r["_id"] for r in rows]
    terms = [analyzer.terms(q) for q in queries]

    started = time.perf_counter()
    reference = BM25Okapi(docs)
    reference_build = time.perf_counter() - started

    path = tmp_path / "bm25.sqlite"
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    tables = BM25Tables(db, "lex", config)
    db.execute("BEGIN")
    tables.add([LexicalRow(i, i, t) for i, t in zip(ids, docs, strict=True)])
    db.execute("COMMIT")
    db.close()
    ours_build = time.perf_counter() - started

    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    tables = BM25Tables(db, "lex", config)
    ours_open = time.perf_counter() - started

    ref_ms, ours_ms, same = [], [], 0
    for query in terms:
        started = time.perf_counter()
        scores = reference.get_scores(query)
        top = np.argsort(-scores, kind="stable")[:10]
        ref_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        got = tables.search(query, 10)
        ours_ms.append((time.perf_counter() - started) * 1000)
        expected = [(ids[i], float(scores[i])) for i in top if scores[i] > 0]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9)
        same += [i for i, _ in got] == [i for i, _ in expected]
    print(
        f"\nSciFact BM25, {len(docs)} docs, {len(terms)} queries (okapi idf, same tokens)\n"
        f"  rank-bm25: build {reference_build:.2f} s in memory (every process), "
        f"query p50 {statistics.median(ref_ms):.2f} ms\n"
        f"  ours:      build {ours_build:.2f} s on disk (once, then incremental), "
        f"open {ours_open * 1000:.1f} ms, query p50 {statistics.median(ours_ms):.2f} ms\n"
        f"  identical top-10 rankings: {same}/{len(terms)}"
    )
    assert same >= len(terms) - 5  # ties may order differently
