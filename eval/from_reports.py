"""The report folder for `rag eval beir|passages|ablation --out DIR`: their reports as
`Results`, one system per report, so they render as `rag eval run`'s do.

Example:
    >>> results = results_from_reports([("hybrid", report)], run_meta(argv))  # doctest: +SKIP
    >>> write_report(results, Path("out"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.beir import EvalReport
from eval.metrics import METRICS
from eval.results import QuestionRun, Results, SystemRun, passage_row

__all__ = ["results_from_reports"]


def _system(name: str, report: EvalReport) -> SystemRun:
    mode = report.config.get("retrieval", {}).get("mode", "")
    system = SystemRun(
        name,
        f"retrieval.mode={mode}; {report.split}",
        report.config,
        report.manifest,
        info={"ingest": report.ingest, "latency_ms": report.latency_ms},
    )
    for query in report.questions:
        rels = report.relevant.get(query, {})
        hits = report.top.get(query, [])
        key = (lambda h: h.chunk.chunk_id) if report.chunk_level else (lambda h: h.chunk.doc_id)
        run = QuestionRun(
            query,
            dict(report.per_query.get(query, {})),
            passages=[passage_row(n, h, rels.get(key(h), 0) > 0) for n, h in enumerate(hits, 1)],
            queries=list(report.rewritten.get(query, [])),
        )
        if query in report.latency_by_query:
            run.latency_ms["retrieval"] = report.latency_by_query[query]
        system.questions[query] = run
    return system


def results_from_reports(named: Sequence[tuple[str, EvalReport]], meta: dict[str, Any]) -> Results:
    """One system per (name, report); the questions are the first report's."""
    first = named[0][1]
    questions: list[dict[str, Any]] = []
    for query, text in first.questions.items():
        row: dict[str, Any] = {"id": query, "question": text}
        if first.relevant.get(query):
            row["relevance"] = first.relevant[query]
        questions.append(row)
    dataset = {"name": first.dataset, "path": first.split, "questions": questions}
    systems = [_system(name, report) for name, report in named]
    return Results(f"Evaluation: {first.dataset}", dataset, systems, list(METRICS), "ndcg@10", meta)
