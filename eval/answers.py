"""Answering one question as a system answers it, and scoring that answer.

With retrieval, the answer is written exactly as `rag ask` writes it (`RagPipeline.prepare`
then `stream`: query rewriting, search, compression, the model, the extractive fallback).
Without retrieval ("no RAG"), the model gets the question alone with the closed-book prompt.

Example:
    >>> answered = answer_with_rag(pipeline, "How many days of leave?")  # doctest: +SKIP
    >>> scores, unjudged, verdicts = score_answer(item, answered, judge)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eval.datasets import QaItem
from eval.judge import Judge, Verdict
from eval.prompts import EvalPrompts, language_of
from eval.text_metrics import bleu, contains_answer, exact_match, rouge_l
from rag.config import GenerationParams
from rag.generate.llm import LLMGenerator
from rag.pipeline import RagPipeline
from rag.types import Hit

__all__ = ["REFERENCE_METRICS", "Answered", "answer_closed_book", "answer_with_rag", "score_answer"]

REFERENCE_METRICS = ("rouge_l", "bleu", "exact_match", "contains_answer")


@dataclass(frozen=True, slots=True)
class Answered:
    """An answer and what it was written from (no passages: written without retrieval)."""

    text: str
    passages: tuple[Hit, ...] = ()
    retrieval_ms: float | None = None
    answer_ms: float = 0.0
    queries: tuple[str, ...] = ()
    fallback: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)


def answer_with_rag(pipeline: RagPipeline, question: str) -> Answered:
    """The answer `rag ask` gives, with its context and the time of each part."""
    started = time.perf_counter()
    answering = pipeline.answer(question)
    prepared = answering.prepared
    searched = time.perf_counter()
    answer = answering.answer
    done = time.perf_counter()
    return Answered(
        answer.text,
        prepared.context,
        (searched - started) * 1000,
        (done - searched) * 1000,
        prepared.trace.queries,
        answer.fallback,
        answer.warnings,
    )


def answer_closed_book(
    llm: LLMGenerator, prompts: EvalPrompts, question: str, params: GenerationParams
) -> Answered:
    """The model's answer to the question alone (no retrieval)."""
    prompt = prompts.render("closed_book", language_of(question), question=question)
    started = time.perf_counter()
    pieces = llm.backend.stream([{"role": "user", "content": prompt}], params)
    text = "".join(pieces).strip()
    return Answered(text, answer_ms=(time.perf_counter() - started) * 1000)


def score_answer(
    item: QaItem, answered: Answered, judge: Judge | None
) -> tuple[dict[str, float], list[str], dict[str, Any]]:
    """(scores, unjudged metric names, the judge's verdicts) for one answer."""
    scores: dict[str, float] = {}
    if item.reference:
        scores["rouge_l"] = rouge_l(answered.text, item.reference)
        scores["bleu"] = bleu(answered.text, item.reference)
        scores["exact_match"] = exact_match(answered.text, item.reference)
    if item.answers:
        scores["contains_answer"] = contains_answer(answered.text, item.answers)
    if judge is None:
        return scores, [], {}
    verdicts: dict[str, Verdict] = {
        "answer_relevance": judge.relevance(item.question, answered.text),
    }
    if answered.passages:
        passages, question = answered.passages, item.question
        verdicts["faithfulness"] = judge.faithfulness(question, answered.text, passages)
        verdicts["context_precision"] = judge.context_precision(
            question, passages, item.reference, answered.text
        )
        verdicts["context_recall"] = judge.context_recall(question, passages, item.reference)
        precision, recall = judge.citations(question, answered.text, passages)
        verdicts["citation_precision"], verdicts["citation_recall"] = precision, recall
    unjudged = []
    details: dict[str, Any] = {}
    for name, verdict in verdicts.items():
        if verdict.score is not None:
            scores[name] = verdict.score
        elif verdict.unjudged:
            unjudged.append(name)
        if verdict.detail is not None:
            details[name] = verdict.detail
    return scores, unjudged, details
