"""Knowledge bases on the command line: `--kb` on ingest, ask, delete, stats and reindex;
an index built before knowledge bases existed opens as `default`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.manifest import MANIFEST_NAME
from tests.test_cli import GUIDE

HR = Path(__file__).parent / "api" / "data"


def test_knowledge_bases_are_kept_apart(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--quiet", str(GUIDE)]) == 0
    assert main(["ingest", "--quiet", "--kb", "hr", *map(str, sorted(HR.glob("hr-*.md")))]) == 0
    assert "creating knowledge base 'hr'" in capsys.readouterr().out
    assert main(["ask", "--kb", "hr", "How many days of annual leave?", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {s["source"].rsplit("/", 1)[-1] for s in answer["sources"]} <= {
        "hr-leave-policy.md",
        "hr-salaries.md",
    }
    assert main(["ask", "How many days of annual leave?", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert not any("hr-" in s["source"] for s in default["sources"])
    assert main(["stats", "--kb", "hr"]) == 0
    out = capsys.readouterr().out
    assert "hr (all: default, hr)" in out and "chunks_kb_hr" in out
    assert main(["delete", "--kb", "hr", str(HR / "hr-salaries.md")]) == 0
    assert main(["delete", str(HR / "hr-leave-policy.md")]) == 1  # not in default
    capsys.readouterr()
    assert main(["ask", "--kb", "nosuch", "anything"]) == 2
    err = capsys.readouterr().err
    assert "no knowledge base 'nosuch'" in err and "default, hr" in err
    assert main(["ask", "--kb", "Bad-Name", "anything"]) == 2


def test_an_index_from_before_knowledge_bases_opens_as_default(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--quiet", str(GUIDE / "faq.html")]) == 0
    manifest = json.loads((data_dir / MANIFEST_NAME).read_text())
    del manifest["kbs"]  # as written before this version
    (data_dir / MANIFEST_NAME).write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["ask", "--no-llm", "Where is the index stored?", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sources"]
    assert main(["stats"]) == 0
    assert "default (all: default)" in capsys.readouterr().out


def test_reindex_copies_one_knowledge_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, target = tmp_path / "source.toml", tmp_path / "target.toml"
    source.write_text(f'data_dir = "{tmp_path / "index"}"\n')
    target.write_text(f'data_dir = "{tmp_path / "copy"}"\n')
    hr = ["--config", str(source), "--kb", "hr"]
    assert main(["ingest", "--quiet", *hr, str(HR / "hr-salaries.md")]) == 0
    assert main(["reindex", *hr, "--to", str(target), "--quiet"]) == 0
    assert "copied" in capsys.readouterr().out
    copied = json.loads((tmp_path / "copy" / MANIFEST_NAME).read_text())
    assert "hr" in copied["kbs"]
    assert (tmp_path / "copy" / "kbs" / "hr" / "catalog.sqlite").is_file()


def test_eval_runs_in_the_knowledge_base_named(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    beir = tmp_path / "mini"
    (beir / "qrels").mkdir(parents=True)
    rows = [
        {"_id": "d1", "title": "Leave", "text": "Employees get 25 days of annual leave."},
        {"_id": "d2", "title": "VPN", "text": "Reset the VPN token in the self-service portal."},
    ]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "days of leave"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert main(["ingest", "--quiet", "--kb", "hr", str(HR / "hr-salaries.md")]) == 0
    out = tmp_path / "report.json"
    assert main(["eval", "beir", str(beir), "--kb", "hr", "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["metrics"]["ndcg@10"] == 1.0
