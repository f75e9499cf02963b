"""Query rewriting: the queries each strategy adds, the fallback on model errors, and the
fusion of several queries' results over a real index.

STAND-IN: `ScriptedChatModel` replies with fixed text instead of a served model. The real
OpenAI-compatible and Ollama backends arrive with the generation issue (#5), whose tests run
a real llama.cpp server; until then, what a real model replies is not exercised here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rag.config import RagConfig, RewriteConfig
from rag.errors import GenerationError
from rag.retrieve import create_search
from rag.retrieve.rewrite import LLMRewriter, NoRewriter
from tests.support.app import index_of, ingest


class ScriptedChatModel:
    """STAND-IN for a served model: replies from a script, or raises like a failed call."""

    def __init__(self, replies: Sequence[str | Exception]) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        self.prompts.append(prompt)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_strategies_add_their_queries() -> None:
    chat = ScriptedChatModel(
        [
            "1. annual leave allowance\n2. paid holiday days\n- vacation entitlement\n4. extra",
            "Employees receive twenty days of paid leave each year.\nThey may carry some over.",
            "What are the company's leave policies?",
        ]
    )
    config = RewriteConfig(strategies=["multi_query", "hyde", "step_back"], n_queries=3)
    rewritten = LLMRewriter(chat, config).rewrite("how much leave do I get?", history=())
    assert rewritten.queries == [
        "how much leave do I get?",
        "annual leave allowance",
        "paid holiday days",
        "vacation entitlement",
        "Employees receive twenty days of paid leave each year.\nThey may carry some over.",
        "What are the company's leave policies?",
    ]
    assert rewritten.warnings == []
    assert "3 different search queries" in chat.prompts[0]


def test_condense_uses_history_and_replaces_the_question() -> None:
    chat = ScriptedChatModel(["How many leave days can be carried over to next year?"])
    config = RewriteConfig(strategies=["condense"])
    history = [("How much leave do I get?", "Twenty days per year. [1]")]
    rewritten = LLMRewriter(chat, config).rewrite("and can I keep them?", history)
    assert rewritten.queries == ["How many leave days can be carried over to next year?"]
    assert "Twenty days per year" in chat.prompts[0] and "and can I keep them?" in chat.prompts[0]


def test_chinese_question_gets_the_chinese_prompt() -> None:
    chat = ScriptedChatModel(["年假天数\n带薪休假"])
    LLMRewriter(chat, RewriteConfig(strategies=["multi_query"])).rewrite("年假有几天？", ())
    assert "检索查询" in chat.prompts[0]


def test_model_error_falls_back_to_the_question_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = ScriptedChatModel([GenerationError("timed out after 10 s"), "paid holiday days"])
    config = RewriteConfig(strategies=["hyde", "multi_query"])
    rewritten = LLMRewriter(chat, config).rewrite("how much leave do I get?", ())
    assert rewritten.queries == ["how much leave do I get?", "paid holiday days"]
    assert len(rewritten.warnings) == 1 and "timed out" in rewritten.warnings[0]
    assert "query rewriting (hyde) failed" in caplog.text


def test_no_model_searches_the_question_as_asked() -> None:
    assert NoRewriter().rewrite("q", [("a", "b")]).queries == ["q"]


def test_several_queries_are_fused_by_rank(config: RagConfig, small_folder: Path, embedder) -> None:  # type: ignore[no-untyped-def]

    ingest(config, [small_folder])
    config = config.model_copy(update={"rewrite": RewriteConfig(strategies=["multi_query"])})
    chat = ScriptedChatModel(["Norwich City football club history"])
    with index_of(config, embedder) as index:
        search = create_search(config, index, embedder, ["en"], chat)
        trace = search.trace("unstructured document parsing library", k=6)
    assert trace.queries == (
        "unstructured document parsing library",
        "Norwich City football club history",
    )
    sources = [h.chunk.source for h in trace.hits]
    assert any("README" in s for s in sources) and any("norwich" in s for s in sources)
    for hit in trace.hits:
        assert hit.stage == "queries" and hit.stages[-1].stage == "queries"
    assert [h.score for h in trace.hits] == sorted((h.score for h in trace.hits), reverse=True)
