"""The Chinese passage check: every question's passage exists, and the default retrieval
never ranks Chinese questions worse than jieba-BM25 alone (the English-only embedder must
not drag good lexical hits down)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.passages import QUESTIONS, load_questions
from rag.config import RagConfig, RetrievalConfig
from rag.errors import ConfigError
from tests.support.app import passages_report


def test_default_is_not_worse_than_bm25_on_chinese(docs_dir: Path, tmp_path: Path) -> None:
    default = RagConfig(data_dir=tmp_path)
    bm25 = default.model_copy(update={"retrieval": RetrievalConfig(mode="bm25")})
    fused = passages_report(default, docs_dir / "zh")
    lexical = passages_report(bm25, docs_dir / "zh")
    assert fused.queries == lexical.queries == len(load_questions(QUESTIONS)) >= 30
    assert lexical.metrics["ndcg@10"] > 0.8  # jieba search-mode terms find the passages
    assert fused.metrics["ndcg@10"] >= lexical.metrics["ndcg@10"]
    assert fused.metrics["recall@10"] >= lexical.metrics["recall@10"]


def test_answer_found_nowhere_names_the_question(docs_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "x1", "question": "年假？", "answers": ["不存在的句子"]}\n')
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# 年假\n\n员工每年享有二十天带薪年假。\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="question x1"):
        passages_report(RagConfig(data_dir=tmp_path / "index"), folder, questions)
