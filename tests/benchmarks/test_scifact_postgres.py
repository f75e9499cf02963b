"""Slow (`pytest -m slow -s tests/benchmarks/test_scifact_postgres.py`, ~15 min on 2 cores):
the whole SciFact evaluation on the embedded default (Chroma + the SQLite catalog and BM25),
then on the PostgreSQL profile (pgvector + the catalog and BM25 postings in PostgreSQL) with
the same vectors, moved by `rag reindex --to`. Prints both reports' metrics and latency;
nDCG@10 on PostgreSQL must be within 0.005 of the embedded one."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from eval.beir import eval_config
from rag.config import DatabaseConfig, RagConfig, StoreConfig
from tests.support.app import beir_report, copy_index

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_scifact_on_the_postgres_profile_scores_as_embedded(
    scifact_dir: Path, tmp_path: Path, postgres_url: str
) -> None:
    embedded = RagConfig(data_dir=tmp_path / "embedded")
    reports = {"embedded (chroma + sqlite)": beir_report(embedded, scifact_dir)}
    shared = RagConfig(
        data_dir=tmp_path / "shared",
        store=StoreConfig(backend="pgvector"),
        database=DatabaseConfig(url=SecretStr(postgres_url)),
    )
    name = scifact_dir.name
    copied = copy_index(eval_config(embedded, name), eval_config(shared, name))
    print(f"\nreindex into PostgreSQL: {copied}")
    reports["postgres (pgvector + postings)"] = beir_report(shared, scifact_dir)
    for label, report in reports.items():
        metrics = {k: round(v, 4) for k, v in report.metrics.items()}
        latency = {k: round(v, 1) for k, v in report.latency_ms.items()}
        print(f"{label}: {metrics} {latency}")
    ndcg = [r.metrics["ndcg@10"] for r in reports.values()]
    assert abs(ndcg[0] - ndcg[1]) <= 0.005, ndcg
