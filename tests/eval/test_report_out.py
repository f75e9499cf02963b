"""`rag eval beir|passages|ablation --out DIR` write the report folder `rag eval run`
writes, with per-question scores and passages."""

from __future__ import annotations

import json
from pathlib import Path

from rag.cli import main

DOCS = [
    {"_id": "d1", "title": "Leave", "text": "Employees get 25 days of annual leave each year."},
    {"_id": "d2", "title": "VPN", "text": "Reset the VPN token in the self-service portal."},
    {"_id": "d3", "title": "Parking", "text": "Staff park for free in the north garage."},
]
QUERIES = [("q1", "days of annual leave", "d1"), ("q2", "reset my VPN token", "d2")]


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in DOCS))
    queries = "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t, _ in QUERIES)
    (folder / "queries.jsonl").write_text(queries)
    qrels = "".join(f"{q}\t{d}\t1\n" for q, _, d in QUERIES)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


def _results(folder: Path) -> dict[str, object]:
    assert {p.name for p in folder.iterdir()} == {"report.html", "report.md", "results.json"}
    return json.loads((folder / "results.json").read_text())


def test_beir_and_ablation_write_the_report_folder(data_dir: Path, tmp_path: Path) -> None:
    mini = _beir(tmp_path / "mini")
    assert main(["eval", "beir", str(mini), "--quiet", "--out", str(tmp_path / "beir")]) == 0
    data = _results(tmp_path / "beir")
    [system] = data["systems"]  # type: ignore[index]
    assert system["name"] == "hybrid"
    questions = {q["id"]: q for q in system["questions"]}
    assert questions["q1"]["scores"]["ndcg@10"] == 1.0
    assert questions["q1"]["passages"][0]["doc_id"] == "d1"
    assert questions["q1"]["passages"][0]["relevant"] is True
    assert questions["q1"]["latency_ms"]["retrieval"] > 0

    assert main(["eval", "ablation", str(mini), "--quiet", "--out", str(tmp_path / "abl")]) == 0
    data = _results(tmp_path / "abl" / "mini")
    names = [s["name"] for s in data["systems"]]  # type: ignore[index]
    assert names == ["dense", "BM25", "hybrid", "+ two-level", "+ compression"]
    assert len(data["comparisons"]) >= 4  # type: ignore[arg-type]


def test_passages_write_the_report_folder(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text("# 年假\n\n员工每年享有二十天带薪年假。\n", encoding="utf-8")
    (folder / "vpn.md").write_text("# VPN\n\n在自助门户中重置 VPN 令牌。\n", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "z1", "question": "年假有几天？", "answers": ["二十天带薪年假"]},
        {"id": "z2", "question": "怎么重置 VPN 令牌？", "answers": ["重置 VPN 令牌"]},
    ]
    questions.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    args = ["eval", "passages", str(folder), "--questions", str(questions), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "zh")]) == 0
    data = _results(tmp_path / "zh")
    [system] = data["systems"]  # type: ignore[index]
    first = {q["id"]: q for q in system["questions"]}["z1"]
    assert first["scores"]["hit_rate@10"] == 1.0
    assert first["passages"][0]["relevant"] is True  # relevance by chunk here
    assert "年假有几天" in (tmp_path / "zh" / "report.html").read_text()
