"""The `rag` command: ingest documents, ask questions, delete documents, evaluate retrieval.

Exit codes: 0 success; 1 some files failed to ingest, or nothing matched a delete;
2 the command could not run (bad configuration, empty or locked index, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.config import RagConfig, load_config
from rag.errors import EmptyIndexError, RagError
from rag.types import Answer

__all__ = ["main"]

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Bar:
    """`ingest.progress.Progress` drawn with rich on stderr."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: Any = None

    def start(self, total: int, label: str) -> None:
        self._task = self._progress.add_task(label, total=total)

    def advance(self, steps: int = 1, note: str = "") -> None:
        self._progress.update(self._task, advance=steps, description=note[-60:] or None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML config file (default: $RAG_CONFIG or ./rag.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="parse, chunk, embed and index files and folders")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders")
    ingest.add_argument("--jsonl", type=Path, help="a BEIR corpus.jsonl (_id, title, text)")
    ingest.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone"
    )
    ingest.add_argument("--quiet", "-q", action="store_true", help="no progress bar, failures only")

    ask = sub.add_parser("ask", help="answer a question from the indexed documents")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int, help="number of chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the answer and sources as JSON")

    delete = sub.add_parser("delete", help="remove one file's documents (or one document id)")
    delete.add_argument("source")

    evaluate = sub.add_parser("eval", help="retrieval evaluation reports")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    beir = kinds.add_parser("beir", help="nDCG@10, Recall@10/100, MRR@10, MAP@100 on a BEIR folder")
    beir.add_argument("folder", type=Path, help="corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
    beir.add_argument("--split", default="test", help="qrels split (default: test)")
    beir.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    beir.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = _parser().parse_args(argv)
    # Model loading draws its own progress bars; the CLI draws one of its own instead.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
        if args.command == "ingest":
            return _ingest(config, args)
        if args.command == "ask":
            return _ask(config, args)
        if args.command == "eval":
            return _eval(config, args)
        return _delete(config, args.source)
    except EmptyIndexError as exc:
        _err.print(f"[bold]nothing to answer from:[/] {exc}")
        return 2
    except RagError as exc:
        _err.print(f"[bold red]error:[/] {exc}")
        return 2


def _ingest(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.run import ingest_jsonl, ingest_paths

    if not args.paths and args.jsonl is None:
        _err.print("[bold red]error:[/] give files or folders to ingest, or --jsonl FILE")
        return 2
    with Progress(*_columns(), console=_err, transient=True, disable=args.quiet) as bar:
        reports = []
        if args.paths:
            reports.append(ingest_paths(config, args.paths, prune=args.prune, progress=_Bar(bar)))
        if args.jsonl is not None:
            reports.append(ingest_jsonl(config, args.jsonl, prune=args.prune, progress=_Bar(bar)))
    for report in reports:
        _summary(report, quiet=args.quiet)
    return max(r.exit_code for r in reports)


def _columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _eval(config: RagConfig, args: argparse.Namespace) -> int:
    from eval.run import evaluate_beir

    with Progress(*_columns(), console=_err, transient=True, disable=args.quiet) as bar:
        report = evaluate_beir(config, args.folder, args.split, progress=_Bar(bar))
    table = Table(
        title=f"{report.dataset} ({report.split}, {report.queries} queries, "
        f"retrieval.mode={config.retrieval.mode})",
        title_justify="left",
    )
    names = [*report.metrics, "p50 ms", "p95 ms"]
    for name in names:
        table.add_column(name, justify="right")
    values = [f"{v:.4f}" for v in report.metrics.values()]
    table.add_row(*values, f"{report.latency_ms['p50']:.1f}", f"{report.latency_ms['p95']:.1f}")
    _out.print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        _out.print(f"report written to {args.json}", markup=False)
    return 0


def _summary(report: Any, quiet: bool) -> None:
    failed = [r for r in report.results if r.status == "failed"]
    for result in failed:
        _out.print(f"failed: {result.source}: {result.reason}", markup=False)
    parsed, skipped = report.count("parsed"), report.count("skipped")
    removed = report.count("removed")
    if not quiet:
        table = Table(title="ingest summary", title_justify="left")
        for name in (
            "parsed",
            "skipped (unchanged)",
            "failed",
            "removed",
            "chunks written",
            "time",
        ):
            table.add_column(name, justify="right")
        table.add_row(
            str(parsed),
            str(skipped),
            str(len(failed)),
            str(removed),
            str(report.chunks_written),
            f"{report.seconds:.1f} s",
        )
        _out.print(table)
    if parsed == 0 and removed == 0 and not failed:
        _out.print("nothing changed: every file is already indexed (nothing written)")
    elif quiet:
        _out.print(
            f"parsed {parsed}, skipped {skipped}, failed {len(failed)}, removed {removed}, "
            f"{report.chunks_written} chunks written in {report.seconds:.1f} s"
        )


def _ask(config: RagConfig, args: argparse.Namespace) -> int:
    from rag.pipeline import RagPipeline

    with RagPipeline.open(config) as pipeline:
        answer = pipeline.ask(args.question, top_k=args.top_k)
    if args.json:
        _out.print_json(json.dumps(_answer_json(answer), ensure_ascii=False))
        return 0
    _out.print(answer.text, markup=False)
    _out.print("\nSources:")
    for citation in answer.citations:
        chunk = citation.hit.chunk
        where = ", ".join(
            x
            for x in (
                f"p. {chunk.page}" if chunk.page else "",
                f"§ {chunk.section}" if chunk.section else "",
            )
            if x
        )
        line = f"[{citation.n}] {chunk.source}" + (f", {where}" if where else "")
        _out.print(f"{line}  (score {citation.hit.score:.3f})", markup=False)
    return 0


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.text,
        "no_context": answer.no_context,
        "sources": [
            {
                "n": c.n,
                "source": c.hit.chunk.source,
                "page": c.hit.chunk.page,
                "section": c.hit.chunk.section,
                "score": round(c.hit.score, 6),
                "text": c.hit.chunk.text,
            }
            for c in answer.citations
        ],
    }


def _delete(config: RagConfig, source: str) -> int:
    from ingest.run import delete_source

    removed = delete_source(config, source)
    if not removed:
        _err.print(f"no indexed document matches {source!r}; nothing removed")
        return 1
    for item in removed:
        _out.print(f"removed {item}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
