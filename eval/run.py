"""`rag eval run`: every system on the same questions, into one `Results`.

A *variant* is one configuration (`--config FILE`) with its components opened; a *system*
is a variant answering with its own model or a named one (`--model`), with retrieval or
without ("no RAG": the closed-book prompt). `--model A --model B` gives the 2×2 grid: each
model with and without retrieval, on the same questions.

For each system with retrieval: the questions are searched deep enough to rank 100
documents (as `rag eval beir` does) for the retrieval metrics, then answered exactly as
`rag ask` answers (rewriting, search, compression, the model); the answers are scored
against the references and by the judge. A BEIR corpus (or `--docs FOLDER`) is indexed
into `<data_dir>/eval/<name>-<index key>`, once per distinct index settings (embedder,
chunker, lexical, store, summaries), so two configurations that only search differently
share one index; otherwise the questions are asked of the configuration's own knowledge
bases (each question's `kb`, else `--kb`).

Example:
    >>> systems = plan(variants, models=[])  # doctest: +SKIP
    >>> results = run_eval(systems, load_eval_set(path), judge, prompts)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eval.answers import (
    REFERENCE_METRICS,
    Answered,
    answer_closed_book,
    answer_with_rag,
    score_answer,
)
from eval.beir import CHUNKS, DEPTH, warm_up
from eval.datasets import EvalSet, QaItem
from eval.judge import JUDGED, Judge
from eval.metrics import METRICS, PRIMARY, per_query
from eval.prompts import EvalPrompts
from eval.relevance import resolve
from eval.results import QuestionRun, Results, SystemRun, passage_row
from ingest.progress import NoProgress, Progress
from ingest.run import ingest_jsonl, ingest_paths
from rag.config import RagConfig, derive, relocated
from rag.errors import ConfigError
from rag.knowledge_base import KnowledgeBase
from rag.runtime import Runtime
from rag.types import Hit

__all__ = ["ALL_METRICS", "RunOptions", "System", "Variant", "index_key", "plan", "run_eval"]

ALL_METRICS = (*METRICS, *JUDGED, *REFERENCE_METRICS)
_SHOWN = 5  # passages kept per question in the drill-down (when no answer context)


@dataclass(frozen=True, slots=True)
class Variant:
    """One configuration under test, with its components opened."""

    name: str
    source: str
    runtime: Runtime


@dataclass(frozen=True, slots=True)
class System:
    """A variant answering with a model (None: the configuration's own), with or without
    retrieval."""

    name: str
    variant: Variant
    model: str | None = None
    rag: bool = True

    @property
    def description(self) -> str:
        config = self.variant.runtime.config
        model = self.model or config.generator.model or "(the configured model)"
        answering = (
            f"answers by {config.generator.backend} model {model}"
            if config.generator.backend != "none"
            else "extractive answers (no model)"
        )
        retrieval = f"retrieval.mode={config.retrieval.mode}" if self.rag else "no retrieval"
        return f"config {self.variant.source}; {retrieval}; {answering}"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How `run_eval` runs: answers or retrieval only, the documents to index, parallelism."""

    answers: bool = True
    docs: Path | None = None
    parallel: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


def plan(
    variants: Sequence[Variant], models: Sequence[str], closed_book: bool = False
) -> list[System]:
    """The systems to run: each variant (with each model, when models are named); with
    models or `closed_book`, each model also without retrieval (on the first variant).

    Raises:
        ConfigError: Models are named but the first configuration has no generation backend.
    """
    if (models or closed_book) and variants[0].runtime.config.generator.backend == "none":
        raise ConfigError(
            "--model and --closed-book need a generation backend: set generator.backend "
            "(and base_url) in the configuration, e.g. RAG_GENERATOR__BACKEND=openai"
        )
    systems: list[System] = []
    for variant in variants:
        if models:
            systems += [System(f"{variant.name}:{m}", variant, m) for m in models]
        else:
            systems.append(System(variant.name, variant))
    first = variants[0]
    for model in models or ([first.runtime.config.generator.model] if closed_book else []):
        systems.append(System(f"no-rag:{model or first.name}", first, model or None, rag=False))
    return systems


def index_key(config: RagConfig) -> str:
    """A short hash of the settings an index is built with: configurations that share it
    can share one index."""
    parts = {
        "embedder": config.embedder.model_dump(mode="json"),
        "chunker": config.chunker.model_dump(mode="json"),
        "lexical": config.lexical.model_dump(mode="json"),
        "summary": config.summary.model_dump(mode="json"),
        "store": [config.store.backend, config.store.uri],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


class _Indexes:
    """The index each variant searches: an evaluation index built once per index key (a
    BEIR corpus or `--docs`), or the configuration's own."""

    def __init__(self, stack: ExitStack, eval_set: EvalSet, docs: Path | None, progress: Progress):
        self._stack, self._set, self._docs, self._progress = stack, eval_set, docs, progress
        self._built: dict[str, KnowledgeBase] = {}
        self.info: dict[str, dict[str, Any]] = {}

    def base(self, variant: Variant) -> KnowledgeBase:
        """The knowledge base the variant's questions are asked of."""
        config = variant.runtime.config
        if self._set.corpus is None and self._docs is None:
            return variant.runtime.kb()
        name = self._set.name if self._docs is None else self._docs.resolve().name
        key = index_key(config)
        eval_config = relocated(config, f"eval/{name}-{key}", kb="default")
        if key not in self._built:
            runtime = self._stack.enter_context(variant.runtime.derived(eval_config, write=True))
            writer = runtime.kb(create="")
            if self._docs is not None:
                report = ingest_paths(writer, [self._docs], prune=True, progress=self._progress)
            else:
                assert self._set.corpus is not None
                report = ingest_jsonl(writer, self._set.corpus, prune=True, progress=self._progress)
            self._built[key] = writer
            self.info[key] = {
                "data_dir": str(eval_config.data_dir),
                "ingest_seconds": round(report.seconds, 1),
                "chunks_written": report.chunks_written,
            }
        return self._built[key].with_config(eval_config, variant.runtime)

    def key_info(self, variant: Variant) -> dict[str, Any]:
        return self.info.get(index_key(variant.runtime.config), {})


def run_eval(
    systems: Sequence[System],
    eval_set: EvalSet,
    judge: Judge | None,
    prompts: EvalPrompts,
    options: RunOptions | None = None,
    progress: Progress | None = None,
) -> Results:
    """Every system on every question of the set.

    Raises:
        ConfigError: A question's knowledge base does not exist, or a system needs a model
            it does not have.
        IndexMismatchError: A configuration changes how the index is built but the
            questions are asked of an existing index (index a folder with `--docs`).
    """
    options = options or RunOptions()
    progress = progress or NoProgress()
    answers = options.answers and (
        judge is not None or any(i.reference or i.answers for i in eval_set.items)
    )
    if eval_set.corpus is None and options.docs is None:
        _same_index(systems)
    warnings: list[str] = []
    runs = []
    with ExitStack() as stack:
        indexes = _Indexes(stack, eval_set, options.docs, progress)
        for system in systems:
            base = indexes.base(system.variant)
            run = _run_system(system, base, eval_set, judge, prompts, answers, options, progress)
            warnings += [w for w in run.info.pop("problems", []) if w not in warnings]
            run.info.update(indexes.key_info(system.variant))
            runs.append(run)
    primary = PRIMARY if eval_set.judged else "faithfulness" if judge else "rouge_l"
    meta = {
        **options.meta,
        "judge": _judge_name(judge),
        "warnings": warnings,
        "grid": _grid(systems),
    }
    dataset = {
        "name": eval_set.name,
        "path": str(eval_set.path),
        "questions": [i.to_json() for i in eval_set.items],
    }
    return Results(f"Evaluation: {eval_set.name}", dataset, runs, list(ALL_METRICS), primary, meta)


def _same_index(systems: Sequence[System]) -> None:
    """Questions asked of existing indexes: configurations that share an index (the same
    data dir and store) must search it as it was built.

    Raises:
        ConfigError: Two configurations share an index but build it differently.
    """
    seen: dict[tuple[str, str, str], Variant] = {}
    for system in systems:
        config = system.variant.runtime.config
        where = (str(config.data_dir.resolve()), config.store.backend, config.store.uri)
        other = seen.setdefault(where, system.variant)
        if index_key(config) != index_key(other.runtime.config):
            raise ConfigError(
                f"configuration {system.variant.source} builds its index differently from "
                f"{other.source} (embedder, chunker, lexical, summary or store settings), but "
                f"both would be asked of the one index in {config.data_dir}; pass --docs "
                "FOLDER to index your documents once per configuration, or give each "
                "configuration its own data_dir"
            )


def _grid(systems: Sequence[System]) -> dict[str, dict[str, str]]:
    """Model -> the names of its no-RAG and RAG systems (the first variant's), for the
    models that have both."""
    first = systems[0].variant
    cells: dict[str, dict[str, str]] = {}
    for system in systems:
        if system.variant is not first:
            continue
        model = system.model or first.runtime.config.generator.model or "(configured model)"
        cells.setdefault(model, {}).setdefault("rag" if system.rag else "no_rag", system.name)
    return {m: sides for m, sides in cells.items() if len(sides) == 2}


def _judge_name(judge: Judge | None) -> str:
    return "none (no model configured)" if judge is None else judge.name


def _run_system(
    system: System,
    base: KnowledgeBase,
    eval_set: EvalSet,
    judge: Judge | None,
    prompts: EvalPrompts,
    answers: bool,
    options: RunOptions,
    progress: Progress,
) -> SystemRun:
    config = base.config
    manifest = base.runtime.state.registry().read()
    out = SystemRun(
        system.name,
        system.description,
        system.variant.runtime.config.model_dump(mode="json"),
        manifest.to_dict() if manifest else {},
    )
    items = list(eval_set.items)
    problems: list[str] = []
    qrels: dict[str, dict[str, int]] = {}
    if system.rag:
        deep = base.with_config(
            derive(config, retrieval={"candidates": max(config.retrieval.candidates, CHUNKS)})
        )
        qrels = _retrieval(items, base, deep, out, problems, progress, system.name)
    if answers:
        _answers(system, items, base, out, qrels, judge, prompts, options, progress)
    elif system.rag:
        _timed_search(items, base, out)
    out.info["problems"] = problems
    return out


def _kbs(base: KnowledgeBase, items: list[QaItem]) -> dict[str, KnowledgeBase]:
    """The knowledge base each question is asked of, by name, each opened once (a fresh one
    per question would build its pipeline again inside the timing) and warmed up with its
    questions before anything is timed."""
    kbs: dict[str, KnowledgeBase] = {}
    for item in items:
        name = item.kb or base.config.kb
        if name not in kbs:
            kbs[name] = _kb(base, item)
    for name, kb in kbs.items():
        warm_up(kb, [item.question for item in items if (item.kb or base.config.kb) == name])
    return kbs


def _kb(kb: KnowledgeBase, item: QaItem) -> KnowledgeBase:
    """The knowledge base `item` is asked of, with the settings of `kb`."""
    if not item.kb or item.kb == kb.config.kb:
        return kb
    return kb.runtime.kb(item.kb).with_config(derive(kb.config, kb=item.kb), kb.runtime)


def _retrieval(
    items: list[QaItem],
    base: KnowledgeBase,
    deep: KnowledgeBase,
    out: SystemRun,
    problems: list[str],
    progress: Progress,
    label: str,
) -> dict[str, dict[str, int]]:
    """Deep search per question: the ranking behind the retrieval metrics; returns the
    relevant documents of each question."""
    qrels: dict[str, dict[str, int]] = {}
    by_kb: dict[str, list[QaItem]] = {}
    for item in items:
        by_kb.setdefault(item.kb if item.kb else base.config.kb, []).append(item)
    progress.start(len(items), f"{label}: searching")
    for kb, group in by_kb.items():
        searcher = _kb(deep, QaItem(id="", question="", kb=kb))
        judged = resolve(group, searcher.index)
        problems += judged.problems
        qrels.update(judged.qrels)
        search = searcher.pipeline.search
        for item in group:
            trace = search.trace(item.question, CHUNKS)
            ranked = list(dict.fromkeys(h.chunk.doc_id for h in trace.hits))[:DEPTH]
            run = out.questions.setdefault(item.id, QuestionRun(item.id))
            rels = judged.qrels.get(item.id, {})
            if any(r > 0 for r in rels.values()):
                run.scores.update(per_query(ranked, rels))
            run.passages = [
                passage_row(n, h, rels.get(h.chunk.doc_id, 0) > 0)
                for n, h in enumerate(trace.hits[:_SHOWN], 1)
            ]
            if len(trace.queries) > 1 or trace.queries[0] != item.question:
                run.queries = list(trace.queries)
            progress.advance(1)
    return qrels


def _timed_search(items: list[QaItem], base: KnowledgeBase, out: SystemRun) -> None:
    """Milliseconds per question as `rag ask` searches (`retrieval.top_k` chunks)."""
    kbs = _kbs(base, items)
    for item in items:
        app = kbs[item.kb or base.config.kb]
        started = time.perf_counter()
        app.pipeline.search.retrieve(item.question, app.config.retrieval.top_k)
        run = out.questions.setdefault(item.id, QuestionRun(item.id))
        run.latency_ms["retrieval"] = (time.perf_counter() - started) * 1000


def _answers(
    system: System,
    items: list[QaItem],
    base: KnowledgeBase,
    out: SystemRun,
    qrels: dict[str, dict[str, int]],
    judge: Judge | None,
    prompts: EvalPrompts,
    options: RunOptions,
    progress: Progress,
) -> None:
    params = system.variant.runtime.config.generator.params
    llm = base.runtime.generator(model=system.model) if system.model else None
    if not system.rag and llm is None:
        llm = base.runtime.generator()
        if llm is None:
            raise ConfigError(f"{system.name}: answering without retrieval needs a model")
    kbs = _kbs(base, items) if system.rag else {}

    def one(item: QaItem) -> tuple[QaItem, Answered, tuple[dict[str, float], list[str], Any]]:
        if system.rag:
            pipeline = kbs[item.kb or base.config.kb].pipeline
            if llm is not None:
                pipeline = replace(pipeline, llm=llm)
            answered = answer_with_rag(pipeline, item.question)
        else:
            assert llm is not None
            answered = answer_closed_book(llm, prompts, item.question, params)
        return item, answered, score_answer(item, answered, judge)

    progress.start(len(items), f"{system.name}: answering")
    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        for item, answered, scored in pool.map(one, items):
            run = out.questions.setdefault(item.id, QuestionRun(item.id))
            _record(run, answered, scored, qrels.get(item.id, {}))
            progress.advance(1)


def _record(
    run: QuestionRun,
    answered: Answered,
    scored: tuple[dict[str, float], list[str], dict[str, Any]],
    rels: dict[str, int],
) -> None:
    """One answer, its scores and what it was written from, into the question's run."""
    scores, unjudged, verdicts = scored
    run.answer = answered.text
    run.scores.update(scores)
    run.unjudged = unjudged
    run.verdicts = verdicts
    if answered.retrieval_ms is not None:
        run.latency_ms["retrieval"] = answered.retrieval_ms
    run.latency_ms["answer"] = answered.answer_ms
    if answered.passages:
        run.passages = [
            passage_row(n, h, rels.get(h.chunk.doc_id, 0) > 0)
            for n, h in enumerate(answered.passages, 1)
        ]
    if answered.fallback:
        run.verdicts["warnings"] = list(answered.warnings)


def _rows(hits: Sequence[Hit], rels: dict[str, int]) -> list[dict[str, Any]]:
    """The passages as the report shows them, relevant by document."""
    return [passage_row(n, h, rels.get(h.chunk.doc_id, 0) > 0) for n, h in enumerate(hits, 1)]
