"""Slow (`pytest -m slow -s tests/benchmarks/test_scifact_stores.py`, ~15 min on 2 cores):
the whole SciFact evaluation on Chroma embedded, then on Milvus Lite with the same vectors
(copied by `rag reindex`), with our BM25 (`hybrid`) and with Milvus's own (`native_hybrid`).
Prints each report's metrics and latency; native hybrid must be within 0.01 nDCG@10 of
Chroma's default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.run import evaluate_beir
from ingest.reindex import reindex
from rag.config import RagConfig, RetrievalConfig, StoreConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_scifact_on_chroma_and_milvus_lite(scifact_dir: Path, tmp_path: Path) -> None:
    chroma = RagConfig(data_dir=tmp_path / "chroma")
    reports = {"chroma hybrid": evaluate_beir(chroma, scifact_dir)}
    milvus = RagConfig(data_dir=tmp_path / "milvus", store=StoreConfig(backend="milvus"))
    copied = reindex(
        chroma.model_copy(update={"data_dir": chroma.data_dir / "eval" / scifact_dir.name}),
        milvus.model_copy(update={"data_dir": milvus.data_dir / "eval" / scifact_dir.name}),
    )
    print(f"\nreindex: {copied}")
    for mode in ("hybrid", "native_hybrid"):
        config = milvus.model_copy(update={"retrieval": RetrievalConfig(mode=mode)})
        reports[f"milvus lite {mode}"] = evaluate_beir(config, scifact_dir)
    for name, report in reports.items():
        metrics = {k: round(v, 4) for k, v in report.metrics.items()}
        latency = {k: round(v, 1) for k, v in report.latency_ms.items()}
        print(f"{name}: {metrics} {latency}")
    chroma_ndcg = reports["chroma hybrid"].metrics["ndcg@10"]
    assert abs(reports["milvus lite native_hybrid"].metrics["ndcg@10"] - chroma_ndcg) <= 0.01
