"""`rag eval beir` on the PostgreSQL profile against the embedded default, in the default
suite: a SciFact slice (its first 100 test questions, every document they judge relevant,
and 400 more documents), evaluated embedded (Chroma + SQLite), moved by `rag reindex --to`
(the same vectors) into pgvector + PostgreSQL postings, and evaluated again. nDCG@10 within
0.005. The whole corpus: `pytest -m slow -s tests/benchmarks/test_scifact_postgres.py`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import SecretStr

from eval.beir import eval_config
from rag.config import DatabaseConfig, RagConfig, StoreConfig
from tests.support.app import beir_report, copy_index

QUESTIONS, MORE_DOCS = 100, 400


def _slice(scifact: Path, folder: Path) -> Path:
    """A BEIR folder with SciFact's first test questions, their relevant documents and
    the first `MORE_DOCS` other documents, as SciFact writes them."""
    lines = (scifact / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, judged = lines[0], [line.split("\t") for line in lines[1:] if line.strip()]
    questions = set(list(dict.fromkeys(q for q, _, _ in judged))[:QUESTIONS])
    kept = [row for row in judged if row[0] in questions]
    relevant = {d for _, d, _ in kept}
    corpus, others = [], 0
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc_id = json.loads(line)["_id"]
            if doc_id in relevant or others < MORE_DOCS:
                others += doc_id not in relevant
                corpus.append(line)
    with (scifact / "queries.jsonl").open(encoding="utf-8") as handle:
        asked = [line for line in handle if json.loads(line)["_id"] in questions]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(asked), encoding="utf-8")
    rows = "".join("\t".join(row) + "\n" for row in kept)
    (folder / "qrels" / "test.tsv").write_text(f"{header}\n{rows}", encoding="utf-8")
    assert len(asked) == QUESTIONS and len(corpus) >= MORE_DOCS + len(relevant) // 2
    return folder


def test_beir_on_the_postgres_profile_scores_as_embedded(
    scifact_dir: Path, tmp_path: Path, postgres_url: str
) -> None:
    folder = _slice(scifact_dir, tmp_path / "scifact-slice")
    embedded = RagConfig(data_dir=tmp_path / "embedded")
    first = beir_report(embedded, folder)
    shared = RagConfig(
        data_dir=tmp_path / "shared",
        store=StoreConfig(backend="pgvector"),
        database=DatabaseConfig(url=SecretStr(postgres_url)),
    )
    copied = copy_index(eval_config(embedded, folder.name), eval_config(shared, folder.name))
    assert copied.chunks > MORE_DOCS
    second = beir_report(shared, folder)
    assert second.ingest["chunks_written"] == 0  # the moved index reused, nothing embedded
    print(f"\nSciFact slice, nDCG@10: embedded {first.metrics['ndcg@10']:.4f}, "
          f"postgres {second.metrics['ndcg@10']:.4f}")  # fmt: skip
    assert first.queries == second.queries == QUESTIONS
    assert first.metrics["ndcg@10"] > 0.6  # a real ranking to compare, not two broken ones
    assert abs(first.metrics["ndcg@10"] - second.metrics["ndcg@10"]) <= 0.005, (
        first.metrics,
        second.metrics,
    )
