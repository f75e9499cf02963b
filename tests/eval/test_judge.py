"""The judge protocol: each metric computed from replies in the prompt's format (a named
stand-in, `ScriptedJudgeBackend`, replays them: no model here writes such JSON), replies
that cannot be read counted as unjudged, and the real llama.cpp server's tiny model, whose
replies are gibberish: every judged metric comes out unjudged, never a pass."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from eval.judge import Judge, cited_sentences, judge_config
from eval.prompts import EvalPrompts, json_reply
from rag.config import GeneratorConfig, RagConfig
from rag.generate import create_backend
from rag.types import Chunk, Hit
from tests.support.llama import MODEL

PASSAGES = [
    Hit(Chunk(f"c{i}", f"d{i}", "v1", text, i, f"docs/{i}.md"), 0.5)
    for i, text in enumerate(
        [
            "Employees get twenty days of paid leave a year.",
            "Unused leave days may be carried over to the next year.",
            "The office is closed on public holidays.",
        ]
    )
]


class ScriptedJudgeBackend:
    """A stand-in judge: returns the scripted reply for the prompt kind it recognises (by
    the JSON key the prompt asks for), and records the prompts."""

    name = "scripted"
    config = GeneratorConfig()

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies, self.prompts = replies, []

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        self.prompts.append(prompt)
        for key, reply in self.replies.items():
            if f'{{"{key}"' in prompt:
                return reply
        return "I cannot help with that."


def _judge(embedder: Any, **replies: Any) -> tuple[Judge, ScriptedJudgeBackend]:
    backend = ScriptedJudgeBackend(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in replies.items()}
    )
    return Judge(backend, EvalPrompts.load(), embedder, name="scripted"), backend  # type: ignore[arg-type]


def test_metrics_from_well_formed_replies(embedder: Any) -> None:
    claims = [{"claim": "twenty days", "supported": True}, {"claim": "paid", "supported": True}]
    judge, backend = _judge(
        embedder,
        claims={"claims": [*claims, {"claim": "thirty days", "supported": False}]},
        verdicts={"verdicts": [{"useful": True}, {"useful": False}, {"useful": True}]},
        statements={"statements": [{"attributed": True}, {"attributed": False}]},
        sentences={
            "sentences": [
                {"sentence": 1, "supported_by": [1]},
                {"sentence": 2, "supported_by": [2]},
                {"sentence": 3, "supported_by": []},
            ]
        },
        questions="```json\n"
        + json.dumps(
            {"questions": ["How many days of leave do employees get?"] * 3, "noncommittal": False}
        )
        + "\n```",
    )
    question, answer = "How many days of leave do employees get?", "Twenty days [1]."
    assert judge.faithfulness(question, answer, PASSAGES).score == pytest.approx(2 / 3)
    assert judge.relevance(question, answer).score == pytest.approx(1.0, abs=1e-5)
    # useful at ranks 1 and 3: (1/1 + 2/3) / 2
    assert judge.context_precision(question, PASSAGES, "", answer).score == pytest.approx(5 / 6)
    assert judge.context_recall(question, PASSAGES, "Twenty days, carried over.").score == 0.5
    answer = "Twenty days of leave. [1] Leave carries over [2][3]. The sky is blue."
    precision, recall = judge.citations(question, answer, PASSAGES)
    assert precision.score == pytest.approx(2 / 3)  # markers 1, 2, 3: 1 and 2 support
    assert recall.score == pytest.approx(2 / 3)  # the third sentence has no citation
    assert "Twenty days of leave." in backend.prompts[-1] and "(cites: 1)" in backend.prompts[-1]


def test_not_applicable_is_not_unjudged(embedder: Any) -> None:
    judge, backend = _judge(embedder, claims={"claims": []})
    question = "How many days of leave?"
    assert not judge.context_recall(question, PASSAGES, "").unjudged  # no reference
    empty = judge.faithfulness(question, "The documents do not say.", PASSAGES)
    assert empty.score is None and not empty.unjudged  # no claim to check
    precision, recall = judge.citations(question, "Twenty days.", PASSAGES)
    assert not precision.applicable and recall.score == 0.0  # uncited: recall 0
    assert judge.relevance(question, "").score == 0.0


def test_replies_that_cannot_be_read_are_unjudged(embedder: Any) -> None:
    question, answer = "How many days of leave?", "Twenty days [1]."
    judge, _ = _judge(
        embedder,
        claims='{"claims": [{"claim": "x", "supported": "yes"}]}',  # not a boolean
        verdicts={"verdicts": [{"useful": True}]},  # one verdict for three passages
        statements="statements: all attributed",
        sentences={"sentences": [{"sentence": 7, "supported_by": [1]}]},  # wrong sentence
        questions={"questions": [], "noncommittal": False},
    )
    verdicts = [
        judge.faithfulness(question, answer, PASSAGES),
        judge.context_precision(question, PASSAGES, "", answer),
        judge.context_recall(question, PASSAGES, "Twenty days."),
        *judge.citations(question, answer, PASSAGES),
        judge.relevance(question, answer),
    ]
    assert all(v.unjudged and v.score is None for v in verdicts)


def test_chinese_questions_get_chinese_prompts(embedder: Any) -> None:
    judge, backend = _judge(embedder)
    verdict = judge.faithfulness("年假有几天？", "二十天 [1]。", PASSAGES)
    assert verdict.unjudged
    assert "上下文段落" in backend.prompts[-1]


def test_reply_and_sentence_parsing() -> None:
    assert json_reply('Sure:\n```json\n{"a": [1, {"b": 2}]}\n``` done') == {"a": [1, {"b": 2}]}
    assert json_reply("no json here {oops") is None
    assert json_reply('[1, 2] then {"k": true}') == {"k": True}
    assert cited_sentences("Twenty days. [1] Carried over [2, 3]. No cite.") == [
        ("Twenty days.", (1,)),
        ("Carried over [2, 3].", (2, 3)),
        ("No cite.", ()),
    ]


def test_judge_config_defaults_to_the_generator() -> None:
    assert judge_config(RagConfig()) is None
    config = RagConfig(
        generator={"backend": "openai", "base_url": "http://x/v1", "model": "m"},
        eval={"judge": {"model": "big-judge", "max_tokens": 300}},
    )
    judged = judge_config(config)
    assert judged is not None
    assert (judged.generator.model, judged.generator.base_url) == ("big-judge", "http://x/v1")
    assert (judged.generator.params.temperature, judged.generator.params.max_tokens) == (0.0, 300)


def test_the_tiny_models_gibberish_is_never_a_pass(llama_server: str, embedder: Any) -> None:
    config = GeneratorConfig(backend="openai", base_url=llama_server, model=MODEL)
    backend = create_backend(config)
    judge = Judge(backend, EvalPrompts.load(), embedder, max_tokens=48, timeout_s=60)
    question, answer = "How many days of leave do employees get?", "Twenty days [1]."
    verdicts: Sequence[Any] = [
        judge.faithfulness(question, answer, PASSAGES),
        judge.relevance(question, answer),
        judge.context_precision(question, PASSAGES, "Twenty days.", answer),
        judge.context_recall(question, PASSAGES, "Twenty days."),
        *judge.citations(question, answer, PASSAGES),
    ]
    assert all(v.unjudged for v in verdicts), [v.detail for v in verdicts]
    assert all(isinstance(v.detail, str) for v in verdicts)  # the raw reply, for the report
