"""generate-qa: every filter on replies in the prompt's format (a named stand-in,
`ScriptedWriterBackend`, writes them: no model here can), determinism for a seed, the
language filter, and the real llama.cpp server's tiny model, whose gibberish is filtered
out entirely (nothing written, exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.generate_qa import _chunks, generate_qa
from eval.prompts import EvalPrompts
from rag.cli import ExitCode, main
from rag.config import GeneratorConfig, RagConfig
from tests.support.app import ingest, opened
from tests.support.llama import MODEL

DOCS = {
    "leave.md": "# Leave\n\nEmployees get twenty days of paid leave each year, booked in the HR "
    "portal at least two weeks ahead.",
    "expenses.md": "# Expenses\n\nTravel expenses are refunded within thirty days when the "
    "receipts are uploaded to the finance system.",
    "holidays.md": "# Holidays\n\nThe office is closed on public holidays and between Christmas "
    "and New Year, when only the help desk answers.",
    "laptops.md": "# Laptops\n\nEvery new employee receives a laptop on the first day; it is "
    "returned to IT on the last working day.",
    "parking.md": "# Parking\n\nStaff parking is free in the north garage; visitors park in the "
    "south garage and get a ticket at reception.",
    "zh.md": "# 年假\n\n员工每年享有二十天带薪年假，需要至少提前两周在人力资源系统中申请，"
    "未用完的年假可以顺延到下一年。病假需要提供医院开具的证明，并在返岗后三个工作日内提交给直属经理"
    "和人力资源部门审核。",
}
SAME = "How many days of paid leave do employees get each year?"


class ScriptedWriterBackend:
    """A stand-in question writer: answers the generate_question prompt by the passage's
    topic (a good question, a copy of the passage, gibberish...), and the answerable prompt
    with yes except for the holidays question."""

    name = "scripted"
    config = GeneratorConfig()

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        if '"answerable"' in prompt:
            return json.dumps({"answerable": "Sundays" not in prompt})
        if "twenty days of paid leave" in prompt or "parking" in prompt:
            return json.dumps({"question": SAME, "answer": "Twenty days."})
        if "Travel expenses" in prompt:
            copied = "Travel expenses are refunded within thirty days when the receipts"
            return json.dumps({"question": copied, "answer": "Thirty days."})
        if "public holidays" in prompt:
            return json.dumps({"question": "When does the office open on Sundays?", "answer": "-"})
        if "年假" in prompt:
            return json.dumps({"question": "How long is annual leave?", "answer": "20 days"})
        return "laptop laptop laptop"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> RagConfig:
    root = tmp_path_factory.mktemp("qa")
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = RagConfig(data_dir=root / ".rag")
    ingest(config, [folder])
    return config


def test_filters_and_determinism(kb: RagConfig) -> None:
    with opened(kb) as app:
        writer: Any = ScriptedWriterBackend()
        made = generate_qa(app, writer, EvalPrompts.load(), n=6, seed=3)
        again = generate_qa(app, writer, EvalPrompts.load(), n=6, seed=3)
        english = generate_qa(app, writer, EvalPrompts.load(), n=6, seed=3, lang="en")
        orders = (_chunks(app, 3), _chunks(app, 4))
    assert made.tried == 6
    assert dict(made.dropped) == {
        "duplicate": 1,  # leave and parking asked the same question: the second is dropped
        "copies_chunk": 1,
        "not_answerable": 1,
        "unreadable": 1,
        "wrong_language": 1,  # an English question from the Chinese chunk
    }
    assert [row["question"] for row in made.items] == [SAME]
    row = made.items[0]
    assert row["id"] == "gen-1" and row["kb"] == "default" and row["reference"] == "Twenty days."
    assert row["source"].endswith(("leave.md", "parking.md")) and row["doc_ids"]
    assert made.items == again.items  # the same seed and model: the same set
    assert english.tried == 5 and "wrong_language" not in english.dropped
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])


def test_the_tiny_models_gibberish_is_filtered_out(
    kb: RagConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    llama_server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in {
        "RAG_DATA_DIR": str(kb.data_dir),
        "RAG_GENERATOR__BACKEND": "openai",
        "RAG_GENERATOR__BASE_URL": llama_server,
        "RAG_GENERATOR__MODEL": MODEL,
    }.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "qa.jsonl"
    code = main(["eval", "generate-qa", "--kb", "default", "--n", "2", "--out", str(out), "-q"])
    assert code == ExitCode.INPUTS_FAILED
    assert not out.exists()
    message = capsys.readouterr().err
    assert "no question survived the filters" in message and "unreadable" in message


def test_needs_a_model(kb: RagConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(kb.data_dir))
    out = tmp_path / "qa.jsonl"
    assert main(["eval", "generate-qa", "--n", "2", "--out", str(out)]) == ExitCode.USAGE
