"""`rag eval run`: configurations and models side by side on one question set, into a
report folder (`report.html`, `report.md`, `results.json`), with an optional regression
gate against an earlier `results.json`; `rag eval generate-qa`: a question set written by
the configured model from a knowledge base's chunks."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.table import Table

from rag.cli.exit_codes import ExitCode
from rag.cli.output import Bar, err, out, progress, warn
from rag.config import RagConfig, derive, load_config
from rag.errors import ConfigError
from rag.runtime import Runtime, connect_backend

__all__ = ["register_generate", "register_run", "write_out"]


def register_run(kinds: Any) -> None:
    """Add `rag eval run` to the `rag eval` parser."""
    run = kinds.add_parser(
        "run",
        help="configurations and models side by side: report.html, report.md, results.json",
    )
    run.add_argument(
        "--dataset", type=Path, required=True, help="a BEIR folder or a QA JSON-lines file"
    )
    run.add_argument(
        "--config",
        dest="configs",
        action="append",
        type=Path,
        help="a configuration to evaluate (repeatable; default: the current configuration)",
    )
    run.add_argument("--out", type=Path, required=True, help="the report folder")
    run.add_argument("--kb", help="the knowledge base questions are asked of (default: default)")
    run.add_argument(
        "--model",
        dest="models",
        action="append",
        help="a served model (or LoRA adapter) to answer with (repeatable): each is run with "
        "and without retrieval, the 2x2 table",
    )
    run.add_argument(
        "--closed-book", action="store_true", help="also answer without retrieval (no RAG)"
    )
    run.add_argument(
        "--docs", type=Path, help="index this folder for the evaluation (QA sets; per config)"
    )
    run.add_argument("--split", default="test", help="BEIR qrels split (default: test)")
    run.add_argument(
        "--retrieval-only", action="store_true", help="retrieval metrics only: no answers"
    )
    run.add_argument(
        "--parallel", type=int, default=1, help="questions answered and judged at once"
    )
    run.add_argument("--baseline", type=Path, help="an earlier results.json to gate against")
    run.add_argument(
        "--fail-under",
        help="with --baseline: metric=change pairs, e.g. ndcg@10=-0.01,faithfulness=-0.02",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)


def _configs(config: RagConfig, args: argparse.Namespace) -> list[tuple[str, str, RagConfig]]:
    """(name, source, configuration) per --config, in order; names are the file stems."""
    if not args.configs:
        return [("default", "(current configuration)", config)]
    out, seen = [], set()
    for number, path in enumerate(args.configs, 1):
        loaded = load_config(path)
        if args.kb or config.kb != "default":
            loaded = derive(loaded, kb=args.kb or config.kb)
        name = path.stem if path.stem not in seen else f"{path.stem}-{number}"
        seen.add(name)
        out.append((name, str(path), loaded))
    return out


def _gate_inputs(args: argparse.Namespace) -> tuple[Any, dict[str, float]] | None:
    """The baseline and tolerances, read before the long run so a typo fails at once."""
    from eval.gate import check_metrics, parse_tolerances
    from eval.results import Results

    if args.fail_under and not args.baseline:
        raise ConfigError("--fail-under needs --baseline results.json")
    if not args.baseline:
        return None
    try:
        baseline = Results.from_json(json.loads(args.baseline.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"--baseline {args.baseline} is not a readable results.json: {exc}"
        ) from exc
    tolerances = parse_tolerances(args.fail_under or "")
    check_metrics(baseline, tolerances)  # before the run, not after it
    return baseline, tolerances


def _judge(runtime: Runtime) -> Any:
    from eval.judge import Judge, judge_config
    from eval.prompts import EvalPrompts

    config = judge_config(runtime.config)
    if config is None:
        return None
    backend, _ = connect_backend(config)
    assert backend is not None
    generator, settings = config.generator, config.eval.judge
    name = f"{generator.backend} model {generator.model or '(server default)'}"
    if generator.base_url:
        name += f" at {generator.base_url}"
    prompts = EvalPrompts.load(settings.prompt_dir)
    return Judge(backend, prompts, runtime.embedder, settings.max_tokens, settings.timeout_s, name)


def _run(config: RagConfig, args: argparse.Namespace) -> int:
    from eval.datasets import load_eval_set
    from eval.meta import run_meta
    from eval.prompts import EvalPrompts
    from eval.run import RunOptions, Variant, plan, run_eval

    if args.parallel < 1:
        raise ConfigError(f"--parallel must be at least 1. Currently, it is {args.parallel}")
    gate = _gate_inputs(args)
    eval_set = load_eval_set(args.dataset, args.split)
    configs = _configs(config, args)
    options = RunOptions(
        answers=not args.retrieval_only,
        docs=args.docs,
        parallel=args.parallel,
        meta=run_meta(getattr(args, "argv", [])),
    )
    with ExitStack() as stack, progress(args.quiet) as display:
        first = stack.enter_context(Runtime.open(configs[0][2]))
        variants = [Variant(configs[0][0], configs[0][1], first)]
        for name, source, loaded in configs[1:]:
            variants.append(Variant(name, source, stack.enter_context(first.derived(loaded))))
        systems = plan(variants, args.models or [], args.closed_book)
        judge = _judge(first)
        prompts = EvalPrompts.load(first.config.eval.judge.prompt_dir)
        results = run_eval(systems, eval_set, judge, prompts, options, Bar(display))
    return write_out(results, args.out, gate)


def write_out(results: Any, folder: Path, gate: tuple[Any, dict[str, float]] | None) -> int:
    """Write the report folder, print the summary, apply the gate; the exit code."""
    from eval.gate import check_gate
    from eval.report import write_report

    write_report(results, folder)
    for warning in results.meta.get("warnings", []):
        warn(warning)
    _print_summary(results)
    out.print(f"report: {folder / 'report.html'} (also report.md, results.json)", markup=False)
    if gate is None:
        return ExitCode.OK
    failures = check_gate(results, gate[0], gate[1])
    for failure in failures:
        err.print(f"regression: {failure}", markup=False)
    if failures:
        return ExitCode.REGRESSION
    out.print(f"gate passed: {', '.join(f'{k}={v:+g}' for k, v in gate[1].items())}")
    return ExitCode.OK


def _print_summary(results: Any) -> None:
    table = Table(title=results.title, title_justify="left")
    table.add_column("metric")
    for system in results.systems:
        table.add_column(system.name, justify="right")
    p_values = {(c.name, c.metric): c.p_value for c in results.comparisons()}
    for metric in results.used_metrics():
        cells = []
        for system in results.systems:
            summary = system.summary(metric)
            if summary is None:
                cells.append("–")
            elif summary.n == 0:
                cells.append(f"unjudged {summary.unjudged}")
            else:
                p = p_values.get((system.name, metric))
                cells.append(f"{summary.mean:.4f}" + (f" (p={p:.3g})" if p is not None else ""))
        table.add_row(metric, *cells)
    out.print(table)


def register_generate(kinds: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag eval generate-qa` to the `rag eval` parser."""
    generate = kinds.add_parser(
        "generate-qa",
        help="write a question set from a knowledge base's chunks with the configured model",
        parents=[common],
    )
    generate.add_argument("--n", type=int, required=True, help="questions wanted")
    generate.add_argument("--out", type=Path, required=True, help="the JSON-lines file to write")
    generate.add_argument("--seed", type=int, default=0, help="chunk order and model seed")
    generate.add_argument(
        "--lang", choices=("auto", "zh", "en"), default="auto", help="only chunks in this language"
    )
    generate.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    generate.set_defaults(handler=_generate)


def _generate(config: RagConfig, args: argparse.Namespace) -> int:
    from eval.generate_qa import generate_qa
    from eval.prompts import EvalPrompts

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1. Currently, it is {args.n}")
    if config.generator.backend == "none":
        raise ConfigError(
            "generate-qa writes questions with a model: set generator.backend, base_url and "
            "model (e.g. RAG_GENERATOR__BACKEND=openai RAG_GENERATOR__BASE_URL=http://...)"
        )
    generator = derive(config.generator, params={"temperature": 0.0, "seed": args.seed})
    writer = derive(config, generator=generator)
    backend, _ = connect_backend(writer)
    assert backend is not None
    prompts = EvalPrompts.load(config.eval.judge.prompt_dir)
    with Runtime.open(config) as runtime, progress(args.quiet) as display:
        made = generate_qa(
            runtime.kb(), backend, prompts, args.n, args.seed, args.lang, Bar(display)
        )
    reasons = ", ".join(f"{count} {reason}" for reason, count in made.dropped.most_common())
    summary = f"kept {len(made.items)} of {made.tried} chunks tried" + (
        f"; dropped: {reasons}" if reasons else ""
    )
    if not made.items:
        err.print(f"no question survived the filters ({summary}); nothing written", markup=False)
        return ExitCode.INPUTS_FAILED
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in made.items)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(lines, encoding="utf-8")
    partial.replace(args.out)
    out.print(f"{summary}; written to {args.out}", markup=False)
    if len(made.items) < args.n:
        warn(f"only {len(made.items)} of the {args.n} questions asked for passed the filters")
    return ExitCode.OK
