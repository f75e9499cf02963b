"""Nothing loaded on first use is timed: before the per-question timing, each knowledge base
a question set asks is opened once and searched end to end, and jieba's dictionary is
loaded when a question holds Chinese (it was loaded by the first Chinese query, and a
question asked of another knowledge base rebuilt that one's pipeline inside its timing)."""

from __future__ import annotations

from pathlib import Path

from eval.beir import warm_up
from eval.datasets import QaItem
from eval.run import _kbs
from rag.config import RagConfig, derive
from rag.lexical.analyzer import _loaded_jieba
from tests.support.app import ingest, opened


def test_warm_up_loads_what_the_questions_need(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "假期.md").write_text("# 年假\n\n员工每年有二十天年假。\n", encoding="utf-8")
    (docs / "leave.md").write_text("# Leave\n\nEmployees get twenty days.\n", encoding="utf-8")
    config = RagConfig(data_dir=tmp_path / "index")
    assert ingest(config, [docs]).exit_code == 0
    hr = derive(config, kb="hr")
    with opened(hr, create="HR", write=True) as kb:
        assert kb.name == "hr"
    assert ingest(hr, [docs / "leave.md"]).exit_code == 0
    with opened(config) as kb:
        _loaded_jieba.cache_clear()
        warm_up(kb, ["How many days of leave?"])
        assert _loaded_jieba.cache_info().currsize == 0  # English only: no dictionary
        warm_up(kb, ["How many days of leave?", "年假有几天？"])
        assert _loaded_jieba.cache_info().currsize == 1

        items = [
            QaItem("q1", "How many days?", kb="hr"),
            QaItem("q2", "Twenty days?", kb="hr"),
            QaItem("q3", "年假有几天？"),
        ]
        kbs = _kbs(kb, items)
        assert set(kbs) == {"hr", "default"} and kbs["default"] is kb
        assert kbs["hr"].name == "hr" and kbs["hr"]._pipeline is not None  # built, once
