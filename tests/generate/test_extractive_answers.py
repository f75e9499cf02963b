"""The model-free answer and abstention over real files (an HR policy in English and in
Chinese, Markdown with headings): sentences by relevance, no heading quoted, Chinese scored by
what reads Chinese, and questions the documents do not answer get no answer and no citation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import RagConfig, RetrievalConfig
from rag.generate.extractive import NOTHING_FOUND
from tests.support.app import ingest, pipeline_of

HR = Path(__file__).resolve().parent / "data" / "hr"


@pytest.fixture(scope="module")
def hr(tmp_path_factory: pytest.TempPathFactory) -> RagConfig:
    config = RagConfig(data_dir=tmp_path_factory.mktemp("hr"))
    assert ingest(config, [HR]).count("parsed") == 2
    return config


@pytest.mark.parametrize(
    ("question", "opening"),
    [
        ("How many sick days?", "Employees may take up to ten paid sick days per year."),
        ("How long is parental leave?", "New parents are entitled to sixteen weeks"),
        ("产假有多少天？", "女职工生育享受九十八天产假"),
        ("婚假几天？", "员工登记结婚可享受三天婚假。"),
    ],
)
def test_the_answer_opens_with_the_sentence_that_answers(
    hr: RagConfig, question: str, opening: str
) -> None:
    with pipeline_of(hr) as pipeline:
        answer = pipeline.ask(question)
    assert answer.text.startswith(opening), answer.text
    assert not answer.no_context and answer.cited
    # headings and titles are never quoted as the answer
    for heading in ("Leave Policy (2025)", "Sick leave", "员工假期制度", "产假 ["):
        assert heading not in answer.text
    assert all(0.0 < c.hit.confidence <= 1.0 for c in answer.citations)  # type: ignore[operator]


@pytest.mark.parametrize(
    "question", ["What is the capital of Mongolia?", "火星有几颗卫星？", "Who wrote Hamlet?"]
)
def test_a_question_the_documents_do_not_answer_abstains(hr: RagConfig, question: str) -> None:
    with pipeline_of(hr) as pipeline:
        explained = pipeline.explain(question)
    answer = explained.answer
    assert answer.no_context and not answer.citations and not answer.cited
    assert answer.text in NOTHING_FOUND.values()
    # whatever the search found (the English ones: the dense search always finds the
    # nearest) was not confident enough to be context
    assert not explained.context
    assert bool(explained.trace.hits) == question.isascii()
    assert all(h.confidence is not None and h.confidence < 0.05 for h in explained.trace.hits)


def test_min_score_zero_keeps_every_hit(hr: RagConfig) -> None:
    config = hr.model_copy(update={"retrieval": RetrievalConfig(min_score=0.0)})
    with pipeline_of(config) as pipeline:
        answer = pipeline.ask("What is the capital of Mongolia?")
    assert answer.citations and answer.no_context  # passages listed, nothing quoted


def test_cli_shows_the_confidence(
    hr: RagConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(hr.data_dir))
    assert main(["ask", "How many sick days?", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert 0.5 < payload["sources"][0]["confidence"] <= 1.0
    assert main(["ask", "How many sick days?"]) == 0
    assert "(confidence 0." in capsys.readouterr().out


def test_passages_in_another_language_are_listed_not_quoted(embedder) -> None:  # type: ignore[no-untyped-def]
    """An English question over Chinese passages the English-only model cannot read and no
    term overlaps: the answer says so and lists them, quoting nothing."""
    from rag.config import AnswerConfig, LexicalConfig
    from rag.generate.extractive import OTHER_LANGUAGE, ExtractiveGenerator
    from rag.lexical.analyzer import Analyzer
    from rag.types import Chunk, Hit

    text = (HR / "假期制度.md").read_text(encoding="utf-8")
    hits = [Hit(Chunk("c0", "d", "v", text, 0, "hr/假期制度.md"), 1.0, "fused", confidence=0.5)]
    generator = ExtractiveGenerator(AnswerConfig(), embedder, {"en"}, Analyzer(LexicalConfig()))
    answer = generator.generate("How many days of marriage leave?", hits)
    assert answer.text == OTHER_LANGUAGE["en"] and answer.no_context
    assert [c.hit.chunk.chunk_id for c in answer.citations] == ["c0"] and not answer.cited
