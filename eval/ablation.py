"""The ablation table: each retrieval stage added in turn, on SciFact and the Chinese check.

Rows: dense alone, BM25 alone, hybrid (fused), two-level (summaries then chunks, fused with
the global search), and two-level with compression. Each row runs the same indexes (built
once, reused) with one setting changed from the given configuration.

Example:
    >>> rows = ablation(load_config(), Path("beir/scifact"), Path("docs/zh"))  # doctest: +SKIP
    >>> print(markdown(rows))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.passages import QUESTIONS, evaluate_passages
from eval.run import EvalReport, evaluate_beir
from ingest.progress import Progress
from rag.config import RagConfig

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
    config: RagConfig,
    beir: Path,
    passages: Path | None = None,
    questions: Path = QUESTIONS,
    progress: Progress | None = None,
) -> list[AblationRow]:
    """Every row of `ROWS` on the BEIR folder's test split and, if given, the passages."""
    rows = []
    for name, mode, compress in ROWS:
        retrieval = config.retrieval.model_copy(update={"mode": mode})
        row_config = config.model_copy(update={"retrieval": retrieval})
        report = evaluate_beir(row_config, beir, "test", progress, compress)
        zh = None
        if passages is not None:
            zh = evaluate_passages(row_config, passages, questions, progress, compress)
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
