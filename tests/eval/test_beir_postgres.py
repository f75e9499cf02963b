"""`rag eval beir` on the PostgreSQL profile against the embedded default, in the default
suite: a SciFact slice (its first 100 test questions, every document they judge relevant,
and 400 more documents), evaluated embedded (Chroma + SQLite), moved by `rag reindex --to`
(the same vectors) into pgvector + PostgreSQL postings, and evaluated again. nDCG@10 within
0.005. The whole corpus: `pytest -m slow -s tests/benchmarks/test_scifact_postgres.py`."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from eval.beir import eval_config
from rag.config import DatabaseConfig, RagConfig, StoreConfig
from tests.support.app import beir_report, copy_index
from tests.support.scifact import scifact_slice

QUESTIONS, MORE_DOCS = 100, 400


def test_beir_on_the_postgres_profile_scores_as_embedded(
    scifact_dir: Path, tmp_path: Path, postgres_url: str
) -> None:
    folder = scifact_slice(scifact_dir, tmp_path / "scifact-slice")
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
