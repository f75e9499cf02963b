"""`rag eval beir` runs the pipeline as `rag ask` does, query rewriting included: with a
model configured, every query is rewritten by the real llama.cpp server (the tiny random
model) before it is searched, and the report lists the queries searched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from tests.generate.conftest import MODEL

DOCS = {
    "d1": "Vitamin D supplements and bone density in older adults.",
    "d2": "Aspirin lowers the risk of a second heart attack.",
    "d3": "Regular exercise improves sleep quality in adults.",
    "d4": "Green tea contains antioxidants called catechins.",
}
QUERIES = {"q1": "does vitamin d help bones", "q2": "aspirin and heart attacks"}


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    rows = [json.dumps({"_id": i, "title": "", "text": t}) for i, t in DOCS.items()]
    (folder / "corpus.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    queries = [json.dumps({"_id": i, "text": t}) for i, t in QUERIES.items()]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
    (folder / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return folder


def test_eval_rewrites_queries_through_the_served_model(
    tmp_path: Path,
    llama_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _beir(tmp_path / "tiny-beir")
    for name, value in {
        "RAG_DATA_DIR": str(tmp_path / "index"),
        "RAG_GENERATOR__BACKEND": "openai",
        "RAG_GENERATOR__BASE_URL": llama_server,
        "RAG_GENERATOR__MODEL": MODEL,
        "RAG_REWRITE__STRATEGIES": '["hyde"]',
        "RAG_REWRITE__MAX_TOKENS": "12",
    }.items():
        monkeypatch.setenv(name, value)
    report = tmp_path / "report.json"
    assert main(["eval", "beir", str(folder), "--quiet", "--json", str(report)]) == 0
    assert "2 queries were rewritten" in capsys.readouterr().out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert set(data["rewritten"]) == set(QUERIES)
    for query_id, searched in data["rewritten"].items():
        # The question as asked, then the hypothetical answer the model wrote for it.
        assert searched[0] == QUERIES[query_id] and len(searched) == 2
        assert searched[1] and searched[1] not in QUERIES.values()
    assert data["config"]["rewrite"]["strategies"] == ["hyde"]
    assert 0.0 <= data["metrics"]["ndcg@10"] <= 1.0


def test_eval_without_a_model_searches_queries_as_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _beir(tmp_path / "tiny-beir")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "index"))
    report = tmp_path / "report.json"
    assert main(["eval", "beir", str(folder), "--quiet", "--json", str(report)]) == 0
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["rewritten"] == {} and data["metrics"]["ndcg@10"] > 0.5
