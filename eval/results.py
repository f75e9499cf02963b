"""What an evaluation run produced: per system, per question, every score and what it was
computed from; `results.json` is `Results.to_json()`.

A *system* is one way of answering: a configuration, optionally a model, with or without
retrieval. Each question's scores hold only the metrics that apply to it (a question with no
relevant documents has no nDCG; an answer the judge's reply could not be read is listed in
`unjudged` for that metric and has no score: it never counts as a pass).

Example:
    >>> results = Results.from_json(json.loads(Path("results.json").read_text()))  # doctest: +SKIP
    >>> results.summary("ndcg@10")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval.stats import bootstrap_ci, paired_permutation
from rag.types import Hit

__all__ = ["Comparison", "QuestionRun", "Results", "Summary", "SystemRun", "passage_row"]

FORMAT = 1  # results.json layout version
PASSAGE_CHARS = 600  # characters of each passage kept in a report


def passage_row(rank: int, hit: Hit, relevant: bool) -> dict[str, Any]:
    """A retrieved passage as the report shows it."""
    chunk = hit.chunk
    text = chunk.text[:PASSAGE_CHARS] + ("…" if len(chunk.text) > PASSAGE_CHARS else "")
    return {
        "rank": rank,
        "doc_id": chunk.doc_id,
        "chunk_id": chunk.chunk_id,
        "source": chunk.source,
        "section": chunk.section or "",
        "score": round(float(hit.score), 6),
        "relevant": relevant,
        "kb": hit.kb,
        "text": text,
    }


@dataclass(slots=True)
class QuestionRun:
    """One system on one question."""

    id: str
    scores: dict[str, float] = field(default_factory=dict)
    unjudged: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)
    answer: str | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)  # when the question was rewritten


@dataclass(frozen=True, slots=True)
class Summary:
    """A metric's mean over the questions it applies to, with its 95% bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int
    unjudged: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """System `name` against `baseline` on one metric, over the questions both scored."""

    name: str
    baseline: str
    metric: str
    delta: float
    p_value: float
    n: int


@dataclass(slots=True)
class SystemRun:
    """One system's results, with the configuration and index manifest behind them."""

    name: str
    description: str
    config: dict[str, Any]
    manifest: dict[str, Any]
    questions: dict[str, QuestionRun] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def values(self, metric: str) -> dict[str, float]:
        """Each question's score on `metric`, for the questions it applies to."""
        return {q: r.scores[metric] for q, r in self.questions.items() if metric in r.scores}

    def summary(self, metric: str) -> Summary | None:
        """The metric's mean and interval (None when no question has it)."""
        values = list(self.values(metric).values())
        unjudged = sum(1 for r in self.questions.values() if metric in r.unjudged)
        if not values:
            nan = float("nan")
            return Summary(nan, nan, nan, 0, unjudged) if unjudged else None
        low, high = bootstrap_ci(values)
        return Summary(float(np.mean(values)), low, high, len(values), unjudged)

    def latencies(self, stage: str) -> list[float]:
        """Every question's milliseconds for `stage` (`retrieval`, `answer`)."""
        return [r.latency_ms[stage] for r in self.questions.values() if stage in r.latency_ms]


@dataclass(slots=True)
class Results:
    """Every system on the same questions, and how the run was made."""

    title: str
    dataset: dict[str, Any]
    systems: list[SystemRun]
    metrics: list[str]
    primary: str
    meta: dict[str, Any] = field(default_factory=dict)

    def system(self, name: str) -> SystemRun | None:
        """The system called `name`, if any."""
        return next((s for s in self.systems if s.name == name), None)

    def used_metrics(self) -> list[str]:
        """The metrics some system has a score (or an unjudged reply) for, in order."""
        return [m for m in self.metrics if any(s.summary(m) is not None for s in self.systems)]

    def comparisons(self) -> list[Comparison]:
        """Every system against the first, per metric: the mean difference on the
        questions both scored and its paired permutation p-value."""
        if len(self.systems) < 2:
            return []
        base, out = self.systems[0], []
        for system in self.systems[1:]:
            for metric in self.used_metrics():
                ours, theirs = system.values(metric), base.values(metric)
                shared = [q for q in ours if q in theirs]
                if not shared:
                    continue
                a = [ours[q] for q in shared]
                b = [theirs[q] for q in shared]
                delta = float(np.mean(a) - np.mean(b))
                p = paired_permutation(a, b)
                out.append(Comparison(system.name, base.name, metric, delta, p, len(shared)))
        return out

    def to_json(self) -> dict[str, Any]:
        """The results as JSON-ready data, with the summaries and comparisons."""
        return {
            "format": FORMAT,
            "title": self.title,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "primary": self.primary,
            "meta": self.meta,
            "summary": {
                s.name: {
                    m: asdict(summary)
                    for m in self.metrics
                    if (summary := s.summary(m)) is not None
                }
                for s in self.systems
            },
            "comparisons": [asdict(c) for c in self.comparisons()],
            "systems": [
                {
                    "name": s.name,
                    "description": s.description,
                    "config": s.config,
                    "manifest": s.manifest,
                    "info": s.info,
                    "questions": [asdict(r) for r in s.questions.values()],
                }
                for s in self.systems
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        """Results read back from `to_json()` data (a `--baseline` file).

        Raises:
            ValueError: The data is not a results file of this format.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a results.json of format {FORMAT}")
        systems = [
            SystemRun(
                s["name"],
                s["description"],
                s["config"],
                s["manifest"],
                {q["id"]: QuestionRun(**q) for q in s["questions"]},
                s.get("info", {}),
            )
            for s in data["systems"]
        ]
        return cls(
            data["title"], data["dataset"], systems, data["metrics"], data["primary"], data["meta"]
        )
