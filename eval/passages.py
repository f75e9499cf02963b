"""A passage-level retrieval check over a folder of real documents and questions about them.

The questions file is JSON lines: `{"id": ..., "question": ..., "answers": [...]}`, where
each answer is a phrase from the passage that answers the question. A chunk is relevant
when it contains one of the phrases (whitespace ignored, so the check does not depend on
how a parser spaces Chinese text). Every question must have a relevant chunk, or the check
stops and names it. Metrics are those of `eval.metrics`, at chunk level.

`eval/data/zh_questions.jsonl` holds 38 questions written over `shared/data/docs/zh`: the
check that fusion never ranks Chinese questions worse than jieba-BM25 alone.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     report = evaluate_passages(runtime, Path("docs/zh"), QUESTIONS)
    >>> report.metrics["ndcg@10"]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

from eval.beir import EvalReport, eval_config, run_queries, time_queries
from eval.metrics import evaluate, judged_queries
from ingest.progress import NoProgress, Progress
from ingest.run import ingest_paths
from rag.config import derive
from rag.errors import ConfigError
from rag.index import Index
from rag.jsonl import objects
from rag.runtime import Runtime

__all__ = ["QUESTIONS", "evaluate_passages", "load_questions"]

QUESTIONS = Path(__file__).parent / "data" / "zh_questions.jsonl"
_SPACE = re.compile(r"\s+")


def load_questions(file: Path) -> list[dict[str, object]]:
    """The questions, each with `id`, `question` and `answers`.

    Raises:
        ConfigError: The file is missing or a line is malformed.
    """
    rows = []
    try:
        for number, row in objects(file):
            if isinstance(row, ValueError):
                raise ConfigError(f"{file} line {number}: {row}")
            if not {"id", "question", "answers"} <= row.keys():
                raise ConfigError(f"{file} line {number}: needs id, question and answers")
            rows.append(row)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read questions file {file}: {exc}") from exc
    return rows


def evaluate_passages(
    runtime: Runtime,
    folder: Path,
    questions: Path = QUESTIONS,
    progress: Progress | None = None,
    compress: bool = False,
) -> EvalReport:
    """Ingest (or reuse) `folder` into its own index and score the questions' passages.

    Raises:
        ConfigError: A question's answer phrases are in no chunk.
    """
    progress = progress or NoProgress()
    rows = load_questions(questions)
    config = eval_config(runtime.config, f"passages-{folder.name}")
    queries = {str(r["id"]): str(r["question"]) for r in rows}
    with runtime.derived(config, write=True) as writer:
        deep = writer.kb(create="")
        ingested = ingest_paths(deep, [folder], prune=True, progress=progress)
        qrels = _qrels(deep.index, rows)
        ranked = run_queries(deep, queries, compress, progress)
        asked = deep.with_config(derive(config, retrieval=runtime.config.retrieval))
        ranked.latencies = time_queries(asked, queries, compress)
        manifest = writer.state.registry().read()
    run = {q: [c.chunk_id for c in chunks] for q, chunks in ranked.run.items()}
    report = ranked.report(
        folder.name,
        questions.name,
        evaluate(run, qrels),
        config,
        {"seconds": ingested.seconds, "chunks_written": ingested.chunks_written},
        manifest,
    )
    return ranked.detail(report, judged_queries(run, qrels), queries, qrels, chunk_level=True)


def _qrels(index: Index, rows: list[dict[str, object]]) -> dict[str, dict[str, int]]:
    ids = [i for doc in index.documents() for i in index.chunk_ids(doc.doc_id)]
    texts = {i: _SPACE.sub("", c.text) for i, c in index.chunks(ids).items()}
    qrels: dict[str, dict[str, int]] = {}
    for row in rows:
        phrases = [_SPACE.sub("", str(a)) for a in row["answers"]]  # type: ignore[attr-defined]
        relevant = {i: 1 for i, text in texts.items() if any(p in text for p in phrases)}
        if not relevant:
            raise ConfigError(
                f"question {row['id']}: no chunk contains any of its answers {row['answers']}; "
                "fix the answer phrases"
            )
        qrels[str(row["id"])] = relevant
    return qrels
