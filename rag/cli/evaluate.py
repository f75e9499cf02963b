"""`rag eval beir|passages|ablation|run`: evaluation reports, run as `rag ask` runs a query."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from rag.cli.eval_run import register_generate, register_run
from rag.cli.exit_codes import ExitCode
from rag.cli.output import Bar, out, progress
from rag.config import RagConfig
from rag.runtime import Runtime

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag eval ...` to the `rag` parser."""
    evaluate = sub.add_parser("eval", help="evaluation reports: retrieval and answers")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    beir = kinds.add_parser(
        "beir", help="nDCG@10, Recall@10/100, MRR@10, MAP@100 on a BEIR folder", parents=[common]
    )
    beir.add_argument("folder", type=Path, help="corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
    beir.add_argument("--split", default="test", help="qrels split (default: test)")
    passages = kinds.add_parser(
        "passages", help="the same metrics, per chunk, on a folder of documents", parents=[common]
    )
    passages.add_argument("folder", type=Path, help="the documents the questions are about")
    passages.add_argument(
        "--questions", type=Path, help="JSON lines: id, question, answers (default: Chinese set)"
    )
    for one in (beir, passages):
        one.add_argument("--compress", action="store_true", help="compress the best chunks")
        one.set_defaults(handler=_report)
    ablation = kinds.add_parser(
        "ablation", help="dense, BM25, hybrid, two-level, compression: a table", parents=[common]
    )
    ablation.add_argument("folder", type=Path, help="a BEIR folder (SciFact)")
    ablation.add_argument("--passages", type=Path, help="documents for the passage check")
    ablation.add_argument("--questions", type=Path, help="questions for the passage check")
    ablation.add_argument("--markdown", type=Path, help="also write the table to this file")
    ablation.set_defaults(handler=_ablation)
    register_run(kinds)
    register_generate(kinds, common)
    for one in (beir, passages, ablation):
        one.add_argument("--json", type=Path, help="also write the report as JSON to this file")
        one.add_argument(
            "--out", type=Path, help="also write report.html, report.md and results.json here"
        )
        one.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _report(config: RagConfig, args: argparse.Namespace) -> int:
    with Runtime.open(config) as runtime, progress(args.quiet) as display:
        if args.kind == "passages":
            from eval.passages import QUESTIONS, evaluate_passages

            questions = args.questions or QUESTIONS
            report = evaluate_passages(runtime, args.folder, questions, Bar(display), args.compress)
        else:
            from eval.beir import evaluate_beir

            report = evaluate_beir(runtime, args.folder, args.split, Bar(display), args.compress)
    table = Table(
        title=f"{report.dataset} ({report.split}, {report.queries} queries, "
        f"retrieval.mode={config.retrieval.mode}{', compressed' if args.compress else ''})",
        title_justify="left",
    )
    names = [*report.metrics, "p50 ms", "p95 ms", "p50 ms depth 300"]
    for name in names:
        table.add_column(name, justify="right")
    values = [f"{v:.4f}" if v < 10 else f"{v:.0f}" for v in report.metrics.values()]
    latency = report.latency_ms
    table.add_row(
        *values,
        f"{latency['p50']:.1f}",
        f"{latency['p95']:.1f}",
        f"{latency['p50_eval_depth']:.1f}",
    )
    out.print(table)
    if report.rewritten:
        out.print(f"{len(report.rewritten)} queries were rewritten ([rewrite])", markup=False)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        out.print(f"report written to {args.json}", markup=False)
    if args.out is not None:
        name = config.retrieval.mode + (" + compression" if args.compress else "")
        _folder([(name, report)], args.out, args)
    return ExitCode.OK


def _folder(named: list[tuple[str, Any]], folder: Path, args: argparse.Namespace) -> None:
    """The report folder (`--out`) of these reports, as `rag eval run` writes it."""
    from eval.from_reports import results_from_reports
    from eval.meta import run_meta
    from eval.report import write_report

    write_report(results_from_reports(named, run_meta(getattr(args, "argv", []))), folder)
    out.print(f"report: {folder / 'report.html'} (also report.md, results.json)", markup=False)


def _ablation(config: RagConfig, args: argparse.Namespace) -> int:
    from eval.ablation import ablation, markdown
    from eval.passages import QUESTIONS

    with Runtime.open(config) as runtime, progress(args.quiet) as display:
        questions = args.questions or QUESTIONS
        rows = ablation(runtime, args.folder, args.passages, questions, Bar(display))
    table = markdown(rows, config.retrieval.mode)
    out.print(table, markup=False)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    if args.json is not None:
        data = [
            {
                "name": r.name,
                "beir": r.beir.to_json(),
                "passages": r.passages.to_json() if r.passages else None,
            }
            for r in rows
        ]
        args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    if args.out is not None:
        _folder([(r.name, r.beir) for r in rows], args.out / rows[0].beir.dataset, args)
        if rows[0].passages is not None:
            named = [(r.name, r.passages) for r in rows if r.passages is not None]
            _folder(named, args.out / rows[0].passages.dataset, args)
    return ExitCode.OK
