"""Query rewriting through the generation model: multi-query, HyDE, step-back, condensing.

- `condense` (with chat history): the follow-up question rewritten to stand alone; it then
  replaces the question for every other strategy.
- `multi_query`: `n_queries` rephrasings of the question.
- `hyde` (Gao et al., 2022): a short hypothetical passage answering the question, searched
  as if it were the question (it looks like the passages being sought).
- `step_back` (Zheng et al., 2023): a more general question whose answer gives background.

Every query is searched and the lists are fused by reciprocal rank (`SearchPipeline`). A
model error or timeout falls back to the original question with a warning; with no model
configured, only the original question is searched.

Example:
    >>> rewriter = LLMRewriter(chat, RewriteConfig(strategies=["multi_query"]))  # doctest: +SKIP
    >>> rewriter.rewrite("leave carry-over?", history=()).queries  # doctest: +SKIP
    ['leave carry-over?', 'How many leave days can be carried over?', ...]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.config import RewriteConfig
from rag.errors import GenerationError
from rag.text import is_cjk

__all__ = ["ChatModel", "LLMRewriter", "NoRewriter", "Rewriter", "Rewritten", "first_line"]

logger = logging.getLogger(__name__)

Turn = tuple[str, str]  # (question, answer)

_PROMPTS = {
    "condense": (
        "Rewrite the last question so that it can be understood without the conversation. "
        "Reply with the question only.\n\nConversation:\n{history}\n\nLast question: {query}",
        "根据对话，把最后一个问题改写成不依赖上下文也能理解的独立问题。只回答改写后的问题。"
        "\n\n对话：\n{history}\n\n最后一个问题：{query}",
    ),
    "multi_query": (
        "Write {n} different search queries that would find documents answering the question "
        "below, one per line, no numbering.\n\nQuestion: {query}",
        "为下面的问题写出 {n} 个不同的检索查询，用来查找能回答该问题的文档。每行一个，不要编号。"
        "\n\n问题：{query}",
    ),
    "hyde": (
        "Write a short passage (three sentences) that answers the question as a reference "
        "document would.\n\nQuestion: {query}",
        "写一段简短的文字（三句话），像参考文档一样回答下面的问题。\n\n问题：{query}",
    ),
    "step_back": (
        "Write one more general question whose answer gives the background needed for the "
        "question below. Reply with that question only.\n\nQuestion: {query}",
        "为下面的问题写一个更一般、更上位的问题，它的答案能提供回答原问题所需的背景。只回答这个问题。"
        "\n\n问题：{query}",
    ),
}


class ChatModel(Protocol):
    """The generation model as query rewriting needs it: one prompt in, one reply out."""

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        """The model's reply to a single user message.

        Raises:
            GenerationError: The model failed or did not answer in time.
        """
        ...


@dataclass(frozen=True, slots=True)
class Rewritten:
    """The queries to search, the main one first, and any warning met on the way."""

    queries: list[str]
    warnings: list[str] = field(default_factory=list)


class Rewriter(Protocol):
    """Turns a question (and the conversation so far) into the queries to search."""

    def rewrite(self, query: str, history: Sequence[Turn]) -> Rewritten:
        """The main query first, then any extra ones."""
        ...


class NoRewriter:
    """The question as asked."""

    def rewrite(self, query: str, history: Sequence[Turn]) -> Rewritten:
        return Rewritten([query])


class LLMRewriter:
    """Runs the configured strategies through `chat`; an error keeps the original query."""

    def __init__(self, chat: ChatModel, config: RewriteConfig) -> None:
        self._chat, self._config = chat, config

    def rewrite(self, query: str, history: Sequence[Turn]) -> Rewritten:
        queries, warnings = [query], list[str]()
        strategies = list(self._config.strategies)
        if "condense" in strategies and history:
            condensed = self._ask("condense", query, history, warnings)
            if condensed:
                queries = [first_line(condensed)]
        main = queries[0]
        for strategy in strategies:
            if strategy == "condense":
                continue
            reply = self._ask(strategy, main, history, warnings)
            if not reply:
                continue
            if strategy == "multi_query":
                queries += _lines(reply)[: self._config.n_queries]
            elif strategy == "hyde":
                queries.append(reply.strip())
            else:
                queries.append(first_line(reply))
        return Rewritten(list(dict.fromkeys(q for q in queries if q)), warnings)

    def _ask(self, strategy: str, query: str, history: Sequence[Turn], warnings: list[str]) -> str:
        english, chinese = _PROMPTS[strategy]
        template = chinese if is_cjk(query) else english
        turns = "\n".join(f"Q: {q}\nA: {a}" for q, a in history[-self._config.history_turns :])
        prompt = template.format(query=query, history=turns, n=self._config.n_queries)
        try:
            return self._chat.complete(
                prompt, max_tokens=self._config.max_tokens, timeout_s=self._config.timeout_s
            )
        except GenerationError as exc:
            message = f"query rewriting ({strategy}) failed, searching the question as asked: {exc}"
            logger.warning(message)
            warnings.append(message)
            return ""


def _lines(reply: str) -> list[str]:
    """Non-empty lines without list markers."""
    stripped = (
        re.sub(r"^\s*(?:[-*•]|\d+[.)、])\s*", "", line).strip() for line in reply.splitlines()
    )
    return [line for line in stripped if line]


def first_line(reply: str) -> str:
    """The reply's first non-empty line, without a list marker."""
    lines = _lines(reply)
    return lines[0] if lines else ""
