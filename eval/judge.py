"""Answer metrics judged by a model: faithfulness, answer relevance, context precision and
recall, citation precision and recall. The prompts are files (`eval.prompts`), in English
and Chinese, chosen by the question's language.

Definitions (RAGAS, Es et al. 2023; ALCE, Gao et al. 2023):
- faithfulness: the judge splits the answer into claims and marks each supported by the
  context or not; score = supported / claims. An answer with no claim has no score.
- answer relevance: the judge writes 3 questions the answer answers; score = mean cosine
  similarity (embedder) between those and the real question, 0 when the judge calls the
  answer noncommittal.
- context precision: a useful/not-useful verdict per retrieved passage (against the
  reference answer when there is one, else the answer); score = mean of precision@k over the
  ranks k of useful passages (0 when none is useful).
- context recall (needs a reference): the judge splits the reference into statements and
  marks each attributable to the passages; score = attributed / statements.
- citation precision: of the `[n]` markers, the share whose passage supports its sentence;
  citation recall: of the answer's sentences, the share with a cited passage that supports
  it (a sentence without a marker counts as unsupported).

A reply that is not the JSON the prompt asks for, or does not cover every item, gives no
score: the sample is *unjudged* (`Verdict.score is None`), never a pass.

Example:
    >>> judge = Judge(backend, EvalPrompts.load(), embedder)  # doctest: +SKIP
    >>> judge.faithfulness("why?", "Because [1].", passages).score  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.prompts import EvalPrompts, json_reply, language_of
from rag.config import RagConfig, derive
from rag.embed import Embedder
from rag.generate import ChatBackend
from rag.generate.citations import MARKER, marker_numbers
from rag.generate.prompts import context_block
from rag.text import split_sentences
from rag.types import Hit

__all__ = ["JUDGED", "Judge", "Verdict", "cited_sentences", "judge_config"]

JUDGED = (
    "faithfulness",
    "answer_relevance",
    "context_precision",
    "context_recall",
    "citation_precision",
    "citation_recall",
)
_ONLY_MARKERS = re.compile(rf"^(?:\s*{MARKER.pattern})+\s*")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judged score; `score is None` with `applicable` means unjudged (the reply could
    not be read); not `applicable` means the metric does not apply to this sample."""

    score: float | None
    detail: Any = None
    applicable: bool = True

    @property
    def unjudged(self) -> bool:
        """The metric applied, and the judge's reply could not be read."""
        return self.applicable and self.score is None


_NOT_APPLICABLE = Verdict(None, applicable=False)
_LABELS = {"en": ("Reference answer", "Answer"), "zh": ("参考答案", "回答")}


def judge_config(config: RagConfig) -> RagConfig | None:
    """The configuration whose generator is the judge (`eval.judge` over `generator`,
    greedy decoding), or None when there is no model to judge with."""
    judge, generator = config.eval.judge, config.generator
    backend = judge.backend or generator.backend
    if backend == "none":
        return None
    updates: dict[str, Any] = {
        "backend": backend,
        "params": {"temperature": 0.0, "seed": 0, "max_tokens": judge.max_tokens},
    }
    if judge.base_url:
        updates["base_url"] = judge.base_url
    if judge.model:
        updates["model"] = judge.model
    if judge.api_key.get_secret_value():
        updates["api_key"] = judge.api_key
    return derive(config, generator=derive(generator, **updates))


def cited_sentences(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """The answer's sentences, each with the source numbers its markers cite (markers that
    open a sentence belong to the one before: "... days. [1] Next ...")."""
    out: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(answer):
        lead = _ONLY_MARKERS.match(sentence)
        if lead and out:
            out[-1][1].extend(marker_numbers(lead.group(0)))
            sentence = sentence[lead.end() :]
        if sentence.strip():
            out.append((sentence.strip(), marker_numbers(sentence)))
    return [(text, tuple(dict.fromkeys(numbers))) for text, numbers in out]


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


class Judge:
    """Scores answers with a judge model (one call per metric and sample)."""

    def __init__(
        self,
        backend: ChatBackend,
        prompts: EvalPrompts,
        embedder: Embedder,
        max_tokens: int = 512,
        timeout_s: float = 120.0,
        name: str = "",
    ) -> None:
        self._backend, self._prompts, self._embedder = backend, prompts, embedder
        self.name = name or f"{backend.name} model {backend.config.model or '(default)'}"
        self._max_tokens, self._timeout = max_tokens, timeout_s

    def _ask(self, name: str, question: str, **fields: str) -> tuple[dict[str, Any] | None, str]:
        prompt = self._prompts.render(name, language_of(question), question=question, **fields)
        reply = self._backend.complete(prompt, max_tokens=self._max_tokens, timeout_s=self._timeout)
        return json_reply(reply), reply

    @staticmethod
    def _context(passages: Sequence[Hit]) -> str:
        return "\n\n".join(
            context_block(n, h.chunk.source, h.chunk.text) for n, h in enumerate(passages, 1)
        )

    def faithfulness(self, question: str, answer: str, passages: Sequence[Hit]) -> Verdict:
        """Share of the answer's claims the passages support."""
        if not answer.strip() or not passages:
            return _NOT_APPLICABLE
        data, reply = self._ask(
            "faithfulness", question, answer=answer, context=self._context(passages)
        )
        claims = data.get("claims") if data else None
        if not isinstance(claims, list) or not all(
            isinstance(c, dict) and _is_bool(c.get("supported")) for c in claims
        ):
            return Verdict(None, reply)
        if not claims:
            return Verdict(None, claims, applicable=False)
        return Verdict(sum(c["supported"] for c in claims) / len(claims), claims)

    def relevance(self, question: str, answer: str) -> Verdict:
        """Mean cosine similarity of the questions the answer answers to the question."""
        if not answer.strip():
            return Verdict(0.0, "empty answer")
        data, reply = self._ask("relevance", question, answer=answer)
        asked = data.get("questions") if data else None
        noncommittal = data.get("noncommittal", False) if data else None
        if (
            not isinstance(asked, list)
            or not asked
            or not all(isinstance(q, str) and q.strip() for q in asked)
            or not _is_bool(noncommittal)
        ):
            return Verdict(None, reply)
        if noncommittal:
            return Verdict(0.0, data)
        vectors = self._embedder.embed_documents([question, *asked])
        similarity = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        return Verdict(float(similarity.mean()), data)

    def context_precision(
        self, question: str, passages: Sequence[Hit], reference: str, answer: str
    ) -> Verdict:
        """Mean precision@k at the ranks of the useful passages."""
        target = reference or answer
        if not passages or not target.strip():
            return _NOT_APPLICABLE
        labels = _LABELS[language_of(question)]
        label = labels[0] if reference else labels[1]
        data, reply = self._ask(
            "context_precision",
            question,
            target=target,
            target_label=label,
            context=self._context(passages),
        )
        verdicts = data.get("verdicts") if data else None
        if not isinstance(verdicts, list) or len(verdicts) != len(passages):
            return Verdict(None, reply)
        useful = [v.get("useful") if isinstance(v, dict) else None for v in verdicts]
        if not all(_is_bool(u) for u in useful):
            return Verdict(None, reply)
        found, total = 0, 0.0
        for k, hit in enumerate(useful, 1):
            if hit:
                found += 1
                total += found / k
        return Verdict(total / found if found else 0.0, verdicts)

    def context_recall(self, question: str, passages: Sequence[Hit], reference: str) -> Verdict:
        """Share of the reference's statements the passages hold."""
        if not reference.strip():
            return _NOT_APPLICABLE
        if not passages:
            return Verdict(0.0, "no passages")
        data, reply = self._ask(
            "context_recall", question, reference=reference, context=self._context(passages)
        )
        statements = data.get("statements") if data else None
        if (
            not isinstance(statements, list)
            or not statements
            or not all(isinstance(s, dict) and _is_bool(s.get("attributed")) for s in statements)
        ):
            return Verdict(None, reply)
        return Verdict(sum(s["attributed"] for s in statements) / len(statements), statements)

    def citations(
        self, question: str, answer: str, passages: Sequence[Hit]
    ) -> tuple[Verdict, Verdict]:
        """(citation precision, citation recall) of the answer's `[n]` markers."""
        sentences = cited_sentences(answer)
        if not sentences or not passages:
            return _NOT_APPLICABLE, _NOT_APPLICABLE
        markers = sum(len(cited) for _, cited in sentences)
        if markers == 0:
            return _NOT_APPLICABLE, Verdict(0.0, "no citation markers")
        listed = "\n".join(
            f"{i}. {text} (cites: {', '.join(map(str, cited)) or 'nothing'})"
            for i, (text, cited) in enumerate(sentences, 1)
        )
        data, reply = self._ask(
            "citations", question, context=self._context(passages), sentences=listed
        )
        support = _support(data, len(sentences))
        if support is None:
            unjudged = Verdict(None, reply)
            return unjudged, unjudged
        good = [set(cited) & support[i] for i, (_, cited) in enumerate(sentences)]
        precision = sum(len(g) for g in good) / markers
        recall = sum(1 for g in good if g) / len(sentences)
        detail = [
            {"sentence": text, "cites": list(cited), "supported_by": sorted(g)}
            for (text, cited), g in zip(sentences, good, strict=True)
        ]
        return Verdict(precision, detail), Verdict(recall, detail)


def _support(data: dict[str, Any] | None, count: int) -> list[set[int]] | None:
    """Each sentence's supporting passages from the reply, or None when it is unusable."""
    entries = data.get("sentences") if data else None
    if not isinstance(entries, list):
        return None
    support: dict[int, set[int]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        number, backing = entry.get("sentence"), entry.get("supported_by")
        if not isinstance(number, int) or not isinstance(backing, list):
            return None
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in backing):
            return None
        support[number] = set(backing)
    if set(support) != set(range(1, count + 1)):
        return None
    return [support[i] for i in range(1, count + 1)]
