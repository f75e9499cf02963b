"""The ablation table: each retrieval stage added in turn, on SciFact and the Chinese check.

Rows: dense alone, BM25 alone, hybrid (fused), two-level (summaries then chunks, fused with
the global search), and two-level with compression. Each row runs the same indexes (built
once, reused) with one setting changed from the given configuration.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     rows = ablation(runtime, Path("beir/scifact"), Path("docs/zh"))
    >>> print(markdown(rows))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.beir import EvalReport, evaluate_beir
from eval.passages import QUESTIONS, evaluate_passages
from ingest.progress import Progress
from rag.config import derive
from rag.runtime import Runtime

__all__ = ["ROWS", "AblationRow", "ablation", "markdown"]

ROWS: tuple[tuple[str, str, bool], ...] = (
    ("dense", "dense", False),
    ("BM25", "bm25", False),
    ("hybrid", "hybrid", False),
    ("+ two-level", "two_level", False),
    ("+ compression", "two_level", True),
)


@dataclass(frozen=True, slots=True)
class AblationRow:
    """One configuration's reports: SciFact, and the Chinese check when it ran."""

    name: str
    mode: str
    compress: bool
    beir: EvalReport
    passages: EvalReport | None


def ablation(
    runtime: Runtime,
    beir: Path,
    passages: Path | None = None,
    questions: Path = QUESTIONS,
    progress: Progress | None = None,
) -> list[AblationRow]:
    """Every row of `ROWS` on the BEIR folder's test split and, if given, the passages."""
    rows = []
    for name, mode, compress in ROWS:
        with runtime.derived(derive(runtime.config, retrieval={"mode": mode})) as row:
            report = evaluate_beir(row, beir, "test", progress, compress)
            zh = None
            if passages is not None:
                zh = evaluate_passages(row, passages, questions, progress, compress)
        rows.append(AblationRow(name, mode, compress, report, zh))
    return rows


def markdown(rows: list[AblationRow], default_mode: str) -> str:
    """The rows as a Markdown table; the row matching the default configuration is marked."""
    zh = rows and rows[0].passages is not None
    head = ["configuration", "SciFact nDCG@10", "Recall@100", "p50 ms", "p50 ms (depth 300)"]
    if zh:
        head += ["zh nDCG@10", "zh Recall@10", "zh p50 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        name = row.name + (" (default)" if row.mode == default_mode and not row.compress else "")
        cells = [
            name,
            f"{row.beir.metrics['ndcg@10']:.4f}",
            f"{row.beir.metrics['recall@100']:.4f}",
            f"{row.beir.latency_ms['p50']:.1f}",
            f"{row.beir.latency_ms['p50_eval_depth']:.1f}",
        ]
        if row.passages is not None:
            cells += [
                f"{row.passages.metrics['ndcg@10']:.4f}",
                f"{row.passages.metrics['recall@10']:.4f}",
                f"{row.passages.latency_ms['p50']:.1f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
