"""The `rag` command: ingest documents, ask questions, delete documents, evaluate retrieval.

Exit codes: 0 success; 1 some files failed to ingest, or nothing matched a delete;
2 the command could not run (bad configuration, empty or locked index, ...); 3 `rag ask`
could not reach the model and printed the extractive answer instead.
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
from rag.errors import ConfigError, EmptyIndexError, RagError
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
    # Also accepted after the command (`rag eval beir DIR --config FILE`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = parent.add_parser(name, help=help, parents=[common])
        return made

    ingest = command(sub, "ingest", "parse, chunk, embed and index files and folders")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders")
    ingest.add_argument("--jsonl", type=Path, help="a BEIR corpus.jsonl (_id, title, text)")
    ingest.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone"
    )
    ingest.add_argument("--quiet", "-q", action="store_true", help="no progress bar, failures only")

    ask = command(sub, "ask", "answer a question from the indexed documents")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int, help="number of chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the answer and sources as JSON")
    ask.add_argument(
        "--explain", action="store_true", help="show each search stage's candidates and scores"
    )
    ask.add_argument("--no-llm", action="store_true", help="extractive answer, no model")
    ask.add_argument("--backend", help="generator backend: none, openai, ollama")
    ask.add_argument("--model", help="served model name (or LoRA adapter name)")
    ask.add_argument("--base-url", help="model server URL, e.g. http://127.0.0.1:8000/v1")
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--top-p", type=float)
    ask.add_argument("--sampling-top-k", type=int, help="the model's top_k (not --top-k)")
    ask.add_argument("--repetition-penalty", type=float, help="Ollama: repeat_penalty")
    ask.add_argument("--max-tokens", type=int, help="answer length limit (Ollama: num_predict)")
    ask.add_argument("--stop", action="append", help="stop sequence (repeatable)")
    ask.add_argument("--seed", type=int)
    ask.add_argument("--synthesis", choices=["stuff", "refine", "map_reduce"])

    _models_parser(sub, command)

    delete = command(sub, "delete", "remove one file's documents (or one document id)")
    delete.add_argument("source")

    reindex = command(sub, "reindex", "copy the index to another store, without re-embedding")
    reindex.add_argument("--to", type=Path, required=True, help="the target's TOML config")
    reindex.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    command(sub, "stats", "counts per collection, model, dimension, backend, disk size")

    _eval_parser(sub, command)
    return parser


def _eval_parser(sub: Any, command: Any) -> None:
    """`rag eval beir|passages|ablation`."""
    evaluate = sub.add_parser("eval", help="retrieval evaluation reports")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    beir = command(kinds, "beir", "nDCG@10, Recall@10/100, MRR@10, MAP@100 on a BEIR folder")
    beir.add_argument("folder", type=Path, help="corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
    beir.add_argument("--split", default="test", help="qrels split (default: test)")
    passages = command(kinds, "passages", "the same metrics, per chunk, on a folder of documents")
    passages.add_argument("folder", type=Path, help="the documents the questions are about")
    passages.add_argument(
        "--questions", type=Path, help="JSON lines: id, question, answers (default: Chinese set)"
    )
    for one in (beir, passages):
        one.add_argument("--compress", action="store_true", help="compress the best chunks")
    ablation = command(kinds, "ablation", "dense, BM25, hybrid, two-level, compression: a table")
    ablation.add_argument("folder", type=Path, help="a BEIR folder (SciFact)")
    ablation.add_argument("--passages", type=Path, help="documents for the passage check")
    ablation.add_argument("--questions", type=Path, help="questions for the passage check")
    ablation.add_argument("--markdown", type=Path, help="also write the table to this file")
    for one in (beir, passages, ablation):
        one.add_argument("--json", type=Path, help="also write the report as JSON to this file")
        one.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _models_parser(sub: Any, command: Any) -> None:
    """`rag models check` and `rag models ollama-create`."""
    models = sub.add_parser("models", help="check the served model; register a GGUF with Ollama")
    model_kinds = models.add_subparsers(dest="action", required=True)
    check = command(model_kinds, "check", "list the served models; is the configured one there?")
    create = command(
        model_kinds, "ollama-create", "write a Modelfile for a GGUF and register it with Ollama"
    )
    create.add_argument("--gguf", type=Path, required=True, help="the model file")
    create.add_argument("--name", required=True, help="the name to serve it under")
    create.add_argument("--system", help="system prompt (text, or @FILE)")
    create.add_argument("--template", help="Go chat template (text, or @FILE)")
    create.add_argument(
        "--param", action="append", default=[], help="PARAMETER as name=value (repeatable)"
    )
    check.add_argument("--backend", help="openai or ollama (default: the configured one)")
    check.add_argument("--model", help="model name to look for (default: the configured one)")
    for one in (check, create):
        one.add_argument("--base-url", help="server URL (default: the configured one)")


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
        if args.command == "models":
            return _models(config, args)
        if args.command == "reindex":
            return _reindex(config, args)
        if args.command == "stats":
            return _stats(config)
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
    with Progress(*_columns(), console=_err, transient=True, disable=args.quiet) as bar:
        if args.kind == "ablation":
            return _ablation(config, args, _Bar(bar))
        if args.kind == "passages":
            from eval.passages import QUESTIONS, evaluate_passages

            questions = args.questions or QUESTIONS
            report = evaluate_passages(config, args.folder, questions, _Bar(bar), args.compress)
        else:
            from eval.run import evaluate_beir

            report = evaluate_beir(config, args.folder, args.split, _Bar(bar), args.compress)
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
    _out.print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        _out.print(f"report written to {args.json}", markup=False)
    return 0


def _ablation(config: RagConfig, args: argparse.Namespace, progress: _Bar) -> int:
    from eval.ablation import ablation, markdown
    from eval.passages import QUESTIONS

    rows = ablation(config, args.folder, args.passages, args.questions or QUESTIONS, progress)
    table = markdown(rows, config.retrieval.mode)
    _out.print(table, markup=False)
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

    config = _generator_overrides(config, args)
    with RagPipeline.open(config) as pipeline:
        prepared = pipeline.prepare(args.question, top_k=args.top_k)
        stream = pipeline.stream(args.question, prepared)
        if args.json:
            answer = stream.answer
        else:
            if args.explain:
                _explain(prepared)
            for piece in stream:  # printed as the model writes it
                _out.print(piece, end="", markup=False, highlight=False)
                _out.file.flush()
            _out.print()
            answer = stream.answer
    for warning in answer.warnings:
        _err.print(f"[yellow]warning:[/] {warning}")
    if args.json:
        _out.print_json(json.dumps(_answer_json(answer), ensure_ascii=False))
        return 3 if answer.fallback else 0
    if answer.invalid_citations:
        _err.print(f"removed {answer.invalid_citations} citation(s) that pointed to no source")
    if args.explain:
        _out.print(
            "timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in answer.timings_ms.items()),
            markup=False,
        )
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
    return 3 if answer.fallback else 0


def _generator_overrides(config: RagConfig, args: argparse.Namespace) -> RagConfig:
    """`--no-llm`, `--backend`, `--model`, `--base-url` and sampling flags over the config."""
    generator = config.generator
    update = {
        k: v for k in ("backend", "model", "base_url") if (v := getattr(args, k, None)) is not None
    }
    if getattr(args, "no_llm", False):
        update["backend"] = "none"
    if getattr(args, "synthesis", None):
        update["synthesis"] = args.synthesis
    params = {
        k: v
        for k, v in (
            ("temperature", getattr(args, "temperature", None)),
            ("top_p", getattr(args, "top_p", None)),
            ("top_k", getattr(args, "sampling_top_k", None)),
            ("repetition_penalty", getattr(args, "repetition_penalty", None)),
            ("max_tokens", getattr(args, "max_tokens", None)),
            ("stop", getattr(args, "stop", None)),
            ("seed", getattr(args, "seed", None)),
        )
        if v is not None
    }
    new = generator.model_copy(
        update={**update, "params": generator.params.model_copy(update=params)}
    )
    return config.model_copy(update={"generator": new})


def _reindex(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.reindex import reindex

    if not args.to.is_file():
        _err.print(f"[bold red]error:[/] {args.to} does not exist; give the target's config file")
        return 2
    target = load_config(args.to)
    with Progress(*_columns(), console=_err, transient=True, disable=args.quiet) as bar:
        report = reindex(config, target, _Bar(bar))
    _out.print(
        f"copied {report.chunks} chunks and {report.summaries} summaries from "
        f"{config.store.backend} ({config.data_dir}) to {target.store.backend} "
        f"({target.data_dir}) in {report.seconds:.1f} s; counts verified",
        markup=False,
    )
    return 0


def _stats(config: RagConfig) -> int:
    from ingest.reindex import stats

    figures = stats(config)
    table = Table(title=f"index in {figures.data_dir}", title_justify="left", show_header=False)
    table.add_row("backend", figures.backend)
    table.add_row("store uri", figures.uri)
    table.add_row("embedding model", f"{figures.model} (dimension {figures.dimension})")
    table.add_row("documents", str(figures.documents))
    for name, count in figures.collections.items():
        table.add_row(f"collection {name}", str(count))
    table.add_row("disk size", f"{figures.disk_bytes / 1e6:.1f} MB")
    _out.print(table)
    return 0


def _models(config: RagConfig, args: argparse.Namespace) -> int:
    config = _generator_overrides(config, args)
    if args.action == "check":
        return _check(config)
    from rag.generate.ollama_backend import DEFAULT_HOST, OllamaBackend
    from rag.generate.serving import modelfile, parse_parameters
    from rag.generate.tokens import EstimatedCounter

    gguf = args.gguf.expanduser().resolve()
    if not gguf.is_file():
        _err.print(f"[bold red]error:[/] {gguf} does not exist; give the .gguf file")
        return 2
    system, template = _text_or_file(args.system), _text_or_file(args.template)
    parameters = parse_parameters(args.param)
    file = gguf.with_name(f"{gguf.stem}.Modelfile")
    file.write_text(
        modelfile(gguf, system=system, template=template, parameters=parameters), "utf-8"
    )
    _out.print(f"wrote {file} (for `ollama create {args.name} -f {file}`)", markup=False)
    base_url = args.base_url or (
        config.generator.base_url if config.generator.backend == "ollama" else DEFAULT_HOST
    )
    generator = config.generator.model_copy(
        update={"backend": "ollama", "base_url": base_url, "model": args.name}
    )
    backend = OllamaBackend(generator, EstimatedCounter())
    backend.create(
        args.name,
        gguf,
        system=system,
        template=template,
        parameters=parameters,
        progress=lambda status: _err.print(status, markup=False),
    )
    _out.print(
        f"registered {args.name} with Ollama at {base_url}; use it with "
        f"RAG_GENERATOR__BACKEND=ollama RAG_GENERATOR__MODEL={args.name}",
        markup=False,
    )
    return 0


def _check(config: RagConfig) -> int:
    from rag.generate.serving import check_model

    check = check_model(config)
    _out.print(f"{check.backend} server: {check.where}", markup=False)
    for model in check.served:
        mark = "*" if model is check.found else " "
        _out.print(f" {mark} {model.name}" + (f"  ({model.detail})" if model.detail else ""))
    if check.found is None:
        hint = f"; close: {', '.join(check.close)}" if check.close else ""
        _err.print(
            f"[bold red]not served:[/] {check.model!r} is not among them{hint}. Fix "
            "generator.model (a LoRA adapter is served under the name given to vLLM's "
            "--lora-modules NAME=PATH)"
        )
        return 1
    _out.print(f"ok: {check.model} is served as {check.found.name}", markup=False)
    window = config.generator.context_window
    if check.context_length:
        _out.print(f"model context: {check.context_length} tokens", markup=False)
        if window > check.context_length:
            _err.print(
                f"[yellow]warning:[/] generator.context_window ({window}) is larger than "
                f"the model's context ({check.context_length}); lower it"
            )
    return 0


def _text_or_file(value: str | None) -> str | None:
    """The text, or the content of the file named after an `@`."""
    if value and value.startswith("@"):
        path = Path(value[1:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path} does not exist (named by {value!r})")
        return path.read_text(encoding="utf-8")
    return value


def _explain(explained: Any) -> None:
    """Each stage's candidates and scores, then the context the answer was written from."""
    trace = explained.trace
    for warning in trace.warnings:
        _err.print(f"[yellow]warning:[/] {warning}")
    _out.print(f"queries searched: {' | '.join(trace.queries)}", markup=False)
    _out.print("search: final hits, each stage as rank:score", markup=False)
    for n, hit in enumerate(trace.hits, 1):
        source = hit.chunk.source + (f" § {hit.chunk.section}" if hit.chunk.section else "")
        stages = "  ".join(f"{s.stage} {s.rank}:{s.score:.4f}" for s in hit.stages)
        _out.print(f"  #{n} {source}\n      {stages}", markup=False)
    before = sum(len(h.chunk.text) for h in trace.hits)
    after = sum(len(h.chunk.text) for h in explained.context)
    _out.print(
        f"context: {len(explained.context)} of {len(trace.hits)} chunks, {after} of {before} "
        "characters after compression\n",
        markup=False,
    )


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.text,
        "no_context": answer.no_context,
        "cited": list(answer.cited),
        "invalid_citations": answer.invalid_citations,
        "fallback": answer.fallback,
        "warnings": list(answer.warnings),
        "timings_ms": {k: round(v, 1) for k, v in answer.timings_ms.items()},
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
