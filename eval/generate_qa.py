"""`rag eval generate-qa`: a question set written by the configured model from the user's
own chunks, each question tied to the chunk (and document) it came from.

The chunks of a knowledge base are shuffled with the seed; each is shown to the model with
the `generate_question` prompt in the chunk's language, asking for a question and its answer
as JSON. A question is kept only when it passes every filter, in this order (the reason a
question is dropped is counted):

1. `unreadable`: the reply is not the JSON asked for;
2. `wrong_language`: the question is not in the chunk's language;
3. `copies_chunk`: the question copies the chunk (a common run of 80% of its characters);
4. `duplicate`: the same question (normalised), or one the embedder finds 0.95 similar to a
   kept one;
5. `not_answerable` / `check_unreadable`: asked with the `answerable` prompt whether the
   chunk alone answers it, the model says no, or its reply cannot be read.

Calls are greedy (temperature 0) with the seed, so a seed and a model give the same set.
At most `TRIES_PER_QUESTION * n` chunks are tried.

Example:
    >>> made = generate_qa(runtime.kb(), backend, EvalPrompts.load(), 20)  # doctest: +SKIP
    >>> made.items[0]["question"], made.dropped  # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

import numpy as np

from eval.prompts import EvalPrompts, json_reply, language_of
from eval.text_metrics import normalize
from ingest.progress import NoProgress, Progress
from rag.generate import ChatBackend
from rag.knowledge_base import KnowledgeBase
from rag.types import Chunk

__all__ = ["TRIES_PER_QUESTION", "Generated", "generate_qa"]

TRIES_PER_QUESTION = 3
MIN_CHARS = 80  # a chunk shorter than this holds too little to ask about
COPIED = 0.8  # share of the question found as one run in the chunk
SIMILAR = 0.95  # cosine above which two questions are the same question


@dataclass(slots=True)
class Generated:
    """The kept questions (QA-format rows), how many chunks were tried, why others went."""

    items: list[dict[str, Any]] = field(default_factory=list)
    tried: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def _chunks(kb: KnowledgeBase, seed: int) -> list[str]:
    """Every chunk id of the knowledge base, in an order fixed by the seed."""
    ids = sorted(i for doc in kb.index.documents() for i in kb.index.chunk_ids(doc.doc_id))
    random.Random(seed).shuffle(ids)
    return ids


def _copies(question: str, text: str) -> bool:
    q, t = normalize(question), normalize(text)
    if not q:
        return True
    match = SequenceMatcher(None, q, t, autojunk=False).find_longest_match(0, len(q), 0, len(t))
    return match.size >= COPIED * len(q)


class _Kept:
    """The questions kept so far, for the duplicate check."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._texts: set[str] = set()
        self._vectors: list[np.ndarray] = []

    def duplicate(self, question: str) -> bool:
        if normalize(question) in self._texts:
            return True
        vector = self._kb.embedder.embed_query(question)
        return any(float(vector @ other) >= SIMILAR for other in self._vectors)

    def add(self, question: str) -> None:
        self._texts.add(normalize(question))
        self._vectors.append(self._kb.embedder.embed_query(question))


def generate_qa(
    kb: KnowledgeBase,
    backend: ChatBackend,
    prompts: EvalPrompts,
    n: int,
    seed: int = 0,
    lang: Literal["auto", "en", "zh"] = "auto",
    progress: Progress | None = None,
    max_tokens: int = 256,
    timeout_s: float = 120.0,
) -> Generated:
    """Up to `n` questions from knowledge base `kb`, written by `backend`."""
    progress = progress or NoProgress()
    out, kept = Generated(), _Kept(kb)
    ids = _chunks(kb, seed)
    progress.start(n, "writing questions")
    for start in range(0, len(ids), 64):
        if len(out.items) >= n or out.tried >= TRIES_PER_QUESTION * n:
            break
        batch = kb.index.chunks(ids[start : start + 64])
        for chunk_id in ids[start : start + 64]:
            chunk = batch.get(chunk_id)
            if chunk is None or len(chunk.text.strip()) < MIN_CHARS:
                continue
            language = language_of(chunk.text)
            if lang != "auto" and language != lang:
                continue
            if len(out.items) >= n or out.tried >= TRIES_PER_QUESTION * n:
                break
            out.tried += 1
            reason, row = _one(kb, backend, prompts, chunk, language, kept, max_tokens, timeout_s)
            if reason:
                out.dropped[reason] += 1
                continue
            out.items.append({"id": f"gen-{len(out.items) + 1}", **row})
            progress.advance(1)
    return out


def _one(
    kb: KnowledgeBase,
    backend: ChatBackend,
    prompts: EvalPrompts,
    chunk: Chunk,
    language: str,
    kept: _Kept,
    max_tokens: int,
    timeout_s: float,
) -> tuple[str, dict[str, Any]]:
    """('', the row) for a question that passes every filter, else (the reason, {})."""
    prompt = prompts.render("generate_question", language, passage=chunk.text)
    data = json_reply(backend.complete(prompt, max_tokens=max_tokens, timeout_s=timeout_s))
    question = data.get("question") if data else None
    answer = data.get("answer", "") if data else ""
    if not isinstance(question, str) or not question.strip() or not isinstance(answer, str):
        return "unreadable", {}
    question = " ".join(question.split())
    if language_of(question) != language:
        return "wrong_language", {}
    if _copies(question, chunk.text):
        return "copies_chunk", {}
    if kept.duplicate(question):
        return "duplicate", {}
    check = prompts.render("answerable", language, passage=chunk.text, question=question)
    verdict = json_reply(backend.complete(check, max_tokens=32, timeout_s=timeout_s))
    answerable = verdict.get("answerable") if verdict else None
    if not isinstance(answerable, bool):
        return "check_unreadable", {}
    if not answerable:
        return "not_answerable", {}
    kept.add(question)
    return "", {
        "question": question,
        "reference": answer.strip(),
        "doc_ids": [chunk.doc_id],
        "source": chunk.source,
        "chunk_id": chunk.chunk_id,
        "kb": kb.config.kb,
        "lang": language,
    }
