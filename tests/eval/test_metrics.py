"""Our metrics against pytrec_eval (trec_eval) on a real BM25 run over SciFact, and by hand."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
import pytrec_eval

from eval.beir_folder import load_beir
from eval.metrics import evaluate, per_query
from rag.config import LexicalConfig
from rag.lexical.analyzer import Analyzer
from rag.lexical.bm25 import BM25Tables, LexicalRow


def test_by_hand() -> None:
    rels = {"a": 2, "b": 1, "z": 1}
    got = per_query(["b", "x", "a"], rels)
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["ndcg@10"] == pytest.approx(dcg / ideal)
    assert got["recall@10"] == pytest.approx(2 / 3)
    assert got["mrr@10"] == 1.0
    assert got["map@100"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert per_query(["x", "y"], rels)["mrr@10"] == 0.0
    assert got["hit_rate@10"] == 1.0 and per_query(["x", "y"], rels)["hit_rate@10"] == 0.0


def test_queries_without_relevant_documents_are_left_out() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    assert evaluate({"q1": ["a"], "q2": ["c"]}, qrels)["ndcg@10"] == 1.0
    assert evaluate({}, qrels)["recall@100"] == 0.0  # judged query missing from the run


def test_matches_pytrec_eval_on_a_real_bm25_run(scifact_dir: Path) -> None:
    dataset = load_beir(scifact_dir, "test")
    analyzer = Analyzer(LexicalConfig())
    tables = BM25Tables(sqlite3.connect(":memory:", isolation_level=None), "lex", LexicalConfig())
    with dataset.corpus.open() as handle:
        rows = [json.loads(line) for line in handle]
    tables.add(
        [LexicalRow(r["_id"], r["_id"], analyzer.terms(f"{r['title']}\n{r['text']}")) for r in rows]
    )
    run = {
        q: [d for d, _ in tables.search(analyzer.terms(t), 100)] for q, t in dataset.queries.items()
    }
    # Strictly decreasing scores, so trec_eval's tie order cannot differ from ours.
    scored = {q: {d: float(100 - i) for i, d in enumerate(docs)} for q, docs in run.items()}
    top10 = {q: {d: float(100 - i) for i, d in enumerate(docs[:10])} for q, docs in run.items()}
    measures = {"ndcg_cut.10", "recall.10", "recall.100", "map_cut.100", "success.10"}
    reference = pytrec_eval.RelevanceEvaluator(dataset.qrels, measures).evaluate(scored)
    mrr = pytrec_eval.RelevanceEvaluator(dataset.qrels, {"recip_rank"}).evaluate(top10)
    names = {
        "ndcg@10": "ndcg_cut_10",
        "recall@10": "recall_10",
        "recall@100": "recall_100",
        "map@100": "map_cut_100",
        "hit_rate@10": "success_10",
    }
    for query, docs in run.items():
        ours = per_query(docs, dataset.qrels[query])
        for name, theirs in names.items():
            assert ours[name] == pytest.approx(reference[query][theirs], abs=1e-9), (query, name)
        assert ours["mrr@10"] == pytest.approx(mrr[query]["recip_rank"], abs=1e-9)
    means = evaluate(run, dataset.qrels)
    assert means["ndcg@10"] == pytest.approx(
        sum(r["ndcg_cut_10"] for r in reference.values()) / len(reference), abs=1e-9
    )
    assert 0.6 < means["ndcg@10"] < 0.8  # a sane BM25 on SciFact (published: 0.665)
