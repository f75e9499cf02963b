"""The issue's check as a slow test (about 10 minutes on 2 cores, most of it indexing the
corpus): `rag eval run` over SciFact, the default against BM25 alone, writes the three
report files, and the hybrid default is significantly better. Run with `-m slow`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.integration
def test_default_against_bm25_on_scifact(
    scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / ".rag"))
    configs = ["--config", str(ROOT / "examples/eval/default.toml")]
    configs += ["--config", str(ROOT / "examples/eval/bm25.toml")]
    out = tmp_path / "report"
    assert main(["eval", "run", "--dataset", str(scifact_dir), *configs, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "results.json"}
    data = json.loads((out / "results.json").read_text())
    default, bm25 = data["summary"]["default"], data["summary"]["bm25"]
    assert default["ndcg@10"]["n"] == bm25["ndcg@10"]["n"] == 300
    assert default["ndcg@10"]["mean"] > bm25["ndcg@10"]["mean"] > 0.6
    [ndcg] = [c for c in data["comparisons"] if c["metric"] == "ndcg@10"]
    assert ndcg["p_value"] < 0.05
    print(
        f"nDCG@10 {default['ndcg@10']['mean']:.4f} vs {bm25['ndcg@10']['mean']:.4f}, "
        f"p = {ndcg['p_value']:.4f}"
    )
