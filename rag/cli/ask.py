"""`rag ask`: answer a question from the index, with its sources."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from rag.cli.exit_codes import ExitCode
from rag.cli.output import err, out, safe, warn
from rag.config import GenerationParams, RagConfig
from rag.errors import InvalidRequestError
from rag.generate import BACKENDS
from rag.generate.synthesis import SYNTHESES
from rag.lexical.analyzer import warm_up_chinese
from rag.overrides import with_generation, with_top_k
from rag.pipeline import EMPTY_QUESTION, Explained
from rag.runtime import Runtime
from rag.text import CJK_CHARS
from rag.types import Answer, Hit

__all__ = ["generation_flags", "overrides", "register"]

_CHINESE = re.compile(f"[{CJK_CHARS}]")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag ask` to the `rag` parser."""
    ask = sub.add_parser(
        "ask", help="answer a question from the indexed documents", parents=[common]
    )
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int, help="number of chunks to retrieve")
    ask.add_argument("--json", action="store_true", help="print the answer and sources as JSON")
    ask.add_argument(
        "--explain", action="store_true", help="show each search stage's candidates and scores"
    )
    ask.add_argument("--no-llm", action="store_true", help="extractive answer, no model")
    generation_flags(ask)
    ask.add_argument("--temperature", type=float)
    ask.add_argument("--top-p", type=float)
    ask.add_argument("--sampling-top-k", type=int, help="the model's top_k (not --top-k)")
    ask.add_argument("--repetition-penalty", type=float, help="Ollama: repeat_penalty")
    ask.add_argument("--max-tokens", type=int, help="answer length limit (Ollama: num_predict)")
    ask.add_argument("--stop", action="append", help="stop sequence (repeatable)")
    ask.add_argument("--seed", type=int)
    ask.add_argument("--synthesis", choices=sorted(SYNTHESES))
    ask.set_defaults(handler=_ask)


def generation_flags(parser: argparse.ArgumentParser) -> None:
    """--backend, --model and --base-url (choices from the backend registry)."""
    parser.add_argument("--backend", choices=sorted(BACKENDS), help="generator backend")
    parser.add_argument("--model", help="served model name (or LoRA adapter name)")
    parser.add_argument("--base-url", help="model server URL, e.g. http://127.0.0.1:8000/v1")


def overrides(config: RagConfig, args: argparse.Namespace) -> RagConfig:
    """The flags over the configuration, validated (a bad value is a usage error)."""
    flag = vars(args)
    return with_generation(
        with_top_k(config, flag.get("top_k")),
        backend=flag.get("backend"),
        model=flag.get("model"),
        base_url=flag.get("base_url"),
        synthesis=flag.get("synthesis"),
        no_llm=bool(flag.get("no_llm")),
        temperature=flag.get("temperature"),
        top_p=flag.get("top_p"),
        top_k=flag.get("sampling_top_k"),
        repetition_penalty=flag.get("repetition_penalty"),
        max_tokens=flag.get("max_tokens"),
        stop=flag.get("stop"),
        seed=flag.get("seed"),
    )


def _ask(config: RagConfig, args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise InvalidRequestError(f'{EMPTY_QUESTION}: rag ask "..."')
    config = overrides(config, args)
    params: GenerationParams = config.generator.params
    if config.lexical.chinese != "chars" and _CHINESE.search(args.question):
        warm_up_chinese()  # jieba's dictionary loads while the model does
    with Runtime.open(config) as runtime:
        pipeline = runtime.kb().pipeline
        answering = pipeline.answer(args.question, params=params)
        if not args.json:
            if args.explain:
                _explain(answering.prepared)
            for piece in answering:  # printed as the model writes it
                out.print(safe(piece, newlines=True), end="", markup=False, highlight=False)
                out.file.flush()
            out.print()
        answer = answering.answer
    for warning in answer.warnings:
        warn(warning)
    code = ExitCode.FALLBACK if answer.fallback else ExitCode.OK
    if args.json:
        out.print_json(json.dumps(answer.to_json(), ensure_ascii=False))
        return code
    _sources(answer, args.explain)
    return code


def _sources(answer: Answer, explain: bool) -> None:
    if answer.invalid_citations:
        err.print(f"removed {answer.invalid_citations} citation(s) that pointed to no source")
    if explain:
        out.print(
            "timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in answer.timings_ms.items()),
            markup=False,
        )
    if not answer.citations:
        return
    out.print("\nSources:")
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
        out.print(f"{safe(line)}  ({_strength(citation.hit)})", markup=False)


def _strength(hit: Hit) -> str:
    """The calibrated confidence where the search set one, else the ranking score."""
    if hit.confidence is not None:
        return f"confidence {hit.confidence:.2f}"
    return f"score {hit.score:.3f}"


def _explain(explained: Explained) -> None:
    """Each stage's candidates and scores, then the context the answer was written from."""
    trace = explained.trace
    for warning in trace.warnings:
        warn(warning)
    out.print(f"queries searched: {safe(' | '.join(trace.queries))}", markup=False)
    out.print("search: final hits, each stage as rank:score", markup=False)
    for n, hit in enumerate(trace.hits, 1):
        source = hit.chunk.source + (f" § {hit.chunk.section}" if hit.chunk.section else "")
        stages = "  ".join(f"{s.stage} {s.rank}:{s.score:.4f}" for s in hit.stages)
        out.print(f"  #{n} {safe(source)}\n      {stages}", markup=False)
    before = sum(len(h.chunk.text) for h in trace.hits)
    after = sum(len(h.chunk.text) for h in explained.context)
    out.print(
        f"context: {len(explained.context)} of {len(trace.hits)} chunks, {after} of {before} "
        "characters after compression\n",
        markup=False,
    )
