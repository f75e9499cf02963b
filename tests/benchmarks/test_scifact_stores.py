"""Slow (`pytest -m slow -s tests/benchmarks/test_scifact_stores.py`, ~15 min on 2 cores):
the whole SciFact evaluation on Chroma embedded, then on Milvus Lite with the same vectors
(copied by `rag reindex`), with our BM25 (`hybrid`) and with Milvus's own (`native_hybrid`).
Prints each report's metrics and latency, and per store how much of the exact top 300 (numpy
over the stored vectors) dense search finds, and how much of our BM25 top 300 Milvus's BM25 shares;
native hybrid must be within 0.01 nDCG@10 of Chroma's default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.beir_folder import load_beir
from rag.config import RagConfig, RetrievalConfig, StoreConfig
from rag.embed import create_embedder
from rag.stores import NativeLexicalStore
from tests.support.app import beir_report, copy_index, index_of

DEPTH = 300  # the candidates each search gives fusion in an evaluation

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_scifact_on_chroma_and_milvus_lite(scifact_dir: Path, tmp_path: Path) -> None:
    chroma = RagConfig(data_dir=tmp_path / "chroma")
    reports = {"chroma hybrid": beir_report(chroma, scifact_dir)}
    milvus = RagConfig(data_dir=tmp_path / "milvus", store=StoreConfig(backend="milvus"))
    copied = copy_index(
        chroma.model_copy(update={"data_dir": chroma.data_dir / "eval" / scifact_dir.name}),
        milvus.model_copy(update={"data_dir": milvus.data_dir / "eval" / scifact_dir.name}),
    )
    print(f"\nreindex: {copied}")
    _print_agreement(chroma, milvus, scifact_dir)
    for mode in ("hybrid", "native_hybrid"):
        config = milvus.model_copy(update={"retrieval": RetrievalConfig(mode=mode)})
        reports[f"milvus lite {mode}"] = beir_report(config, scifact_dir)
    for name, report in reports.items():
        metrics = {k: round(v, 4) for k, v in report.metrics.items()}
        latency = {k: round(v, 1) for k, v in report.latency_ms.items()}
        print(f"{name}: {metrics} {latency}")
    chroma_ndcg = reports["chroma hybrid"].metrics["ndcg@10"]
    assert abs(reports["milvus lite native_hybrid"].metrics["ndcg@10"] - chroma_ndcg) <= 0.01


def _print_agreement(chroma: RagConfig, milvus: RagConfig, folder: Path) -> None:
    queries = list(load_beir(folder).queries.values())
    embedder = create_embedder(chroma.embedder)
    embedder.warm_up()
    configs = [
        c.model_copy(update={"data_dir": c.data_dir / "eval" / folder.name})
        for c in (chroma, milvus)
    ]
    with (
        index_of(configs[0], embedder) as ci,
        index_of(configs[1], embedder) as mi,
    ):
        ids, parts = [], []
        for chunks, vectors in ci.stores[0].scan():
            ids += [c.chunk_id for c in chunks]
            parts.append(vectors)
        matrix = np.concatenate(parts)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        found = {"chroma": 0, "milvus": 0}
        shared_bm25 = 0
        native = mi.stores[0]
        assert isinstance(native, NativeLexicalStore)
        for query in queries:
            vector = embedder.embed_query(query)
            exact = {ids[i] for i in np.argsort(-(matrix @ vector))[:DEPTH]}
            for name, index in (("chroma", ci), ("milvus", mi)):
                found[name] += len(exact & {h.chunk.chunk_id for h in index.search(vector, DEPTH)})
            ours = [cid for cid, _ in ci.search_lexical(query, DEPTH)]
            theirs = [h.chunk.chunk_id for h in native.search_lexical(query, DEPTH)]
            shared_bm25 += len(set(ours) & set(theirs)) / max(len(ours), 1)
    share = {name: round(n / (DEPTH * len(queries)), 4) for name, n in found.items()}
    print(f"dense recall@{DEPTH} against exact search: {share}")
    shared = round(shared_bm25 / len(queries), 4)
    print(f"BM25 top {DEPTH} shared by ours and Milvus's: {shared}")
