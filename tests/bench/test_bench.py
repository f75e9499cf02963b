"""`python -m bench` on a slice of SciFact: ours and the bare model (LangChain and
LlamaIndex live in the bench's own venv, not here), each in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_bench_runs_ours_and_the_bare_model(tmp_path: Path, scifact_dir: Path) -> None:
    out = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--dataset", str(scifact_dir), "--docs", "40",
         "--repeat", "1", "--systems", "ours,bare", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text())
    ours, bare = report["summary"]["systems"]["ours"], report["summary"]["systems"]["bare"]
    assert report["documents"] == 40 and report["queries"] > 0
    assert ours["chunks"] == bare["chunks"] > 40  # the bare model embeds exactly our texts
    assert ours["peak_rss_mb"] > 100 and 0 < ours["ndcg@10"] <= 1 and ours["p50_ms"] > 0
    assert 0 < ours["ndcg@10_dense"] <= 1
    ratio = report["summary"]["ratios"]["ingest speed ours/bare"]
    assert ratio == pytest.approx(ours["docs_per_s"] / bare["docs_per_s"])
    assert "| ours |" in done.stdout and "ingest speed ours/bare" in done.stdout


def test_scale_bench_grows_the_index_on_every_store(tmp_path: Path, scifact_dir: Path) -> None:
    out = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--dataset", str(scifact_dir), "--base", "30",
         "--sizes", "60,300", "--stores", "chroma,milvus,pgvector", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "scale.json").read_text())
    assert report["scifact_with_model"]["embedded"] == report["scifact_with_model"]["chunks"] > 30
    cells = {(r["store"], r["size"]): r for r in report["results"]}
    assert set(cells) == {(s, n) for s in ("chroma", "milvus", "pgvector") for n in (60, 300)}
    for (store, size), found in cells.items():
        assert found["computed"] == 0  # every vector precomputed: the figures exclude the model
        assert 0.8 * size < found["chunks"] < 1.25 * size, (store, found["chunks"])
        assert found["hybrid_p50_ms"] > 0 and found["dense_p95_ms"] >= found["dense_p50_ms"]
    assert cells["chroma", 300]["documents"] > 30  # copies beyond the 30 base documents
    assert "| milvus | " in done.stdout and "| pgvector | " in done.stdout
