"""`make bench` (`python -m bench`): ingest and query speed and quality, ours beside the
LangChain and LlamaIndex pipelines users would write and the bare model, in one run.

Each system runs in its own process per repetition (wall time and peak RSS of the whole
process: imports, model load, parsing, embedding, writing); figures are medians over the
repetitions, ratios are taken from them. Writes a table and `bench-results/bench.json`.

Example:
    python -m bench --dataset ../shared/data/beir/scifact --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import summarize, table
from eval.beir_folder import BeirDataset, load_beir
from eval.metrics import evaluate

INGESTERS = ("bare", "langchain", "llamaindex", "ours")
QUERIERS = (
    ("langchain", "default"),
    ("llamaindex", "default"),
    ("ours", "default"),
    ("ours", "dense"),
)


def _run(command: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run one process: its result (last JSON line; for `rag ingest`, its chunk count),
    wall seconds, peak RSS in MB."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=output, stderr=errors, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{tail}")
        output.seek(0)
        lines = output.read().decode().strip().splitlines()
    last = lines[-1] if lines else ""
    if last.startswith("{"):
        result = json.loads(last)
    else:  # `rag ingest --quiet`: "parsed N, ..., M chunks written (...) in S s"
        written = re.search(r"(\d+) chunks written", last)
        result = {"chunks": int(written.group(1))} if written else {}
    return result, wall, usage.ru_maxrss / 1024


def _ingest(system: str, corpus: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    if system == "ours":
        command = [
            str(Path(sys.executable).parent / "rag"),
            "ingest",
            "--quiet",
            "--jsonl",
            str(corpus),
        ]
        env = {**env, "RAG_DATA_DIR": str(work)}
    else:
        command = [
            sys.executable,
            "-m",
            "bench.workers",
            system,
            "ingest",
            "--corpus",
            str(corpus),
            "--work",
            str(work),
        ]
    result, wall, rss = _run(command, env)
    return {**result, "wall_s": wall, "peak_rss_mb": rss}


def _query(
    system: str, mode: str, work: Path, queries: Path, env: dict[str, str]
) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.workers", system, "query",
        "--work", str(work), "--queries", str(queries), "--mode", mode,
    ]  # fmt: skip
    result, wall, rss = _run(command, env)
    latency = sorted(result.pop("latency_ms"))
    return {
        "ranked": result["ranked"],
        "p50_ms": statistics.median(latency),
        "p95_ms": latency[int(0.95 * (len(latency) - 1))],
        "wall_s": wall,
        "peak_rss_mb": rss,
    }


def commit() -> str:
    """The checkout's commit (with "+changes" when the tree differs), or "" outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if dirty else "")


def subset(data: BeirDataset, docs: int, corpus: Path) -> BeirDataset:
    """The first `docs` documents, written to `corpus`, and the queries judged on them."""
    kept: set[str] = set()
    with data.corpus.open(encoding="utf-8") as source, corpus.open("w", encoding="utf-8") as out:
        for line in source:
            if line.strip() and len(kept) < docs:
                kept.add(str(json.loads(line)["_id"]))
                out.write(line)
    qrels = {q: r for q, r in data.qrels.items() if any(d in kept for d in r)}
    queries = {q: t for q, t in data.queries.items() if q in qrels}
    return BeirDataset(data.name, corpus, queries, qrels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset",
        type=Path,
        default=Path(os.environ.get("RAG_TEST_DATA", "../shared/data")) / "beir" / "scifact",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--systems", default=",".join(INGESTERS))
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--docs", type=int, default=0, help="the first N documents only (their queries only)"
    )
    args = parser.parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_beir(args.dataset)
    if args.docs:
        data = subset(data, args.docs, args.out / "corpus.jsonl")
    with data.corpus.open(encoding="utf-8") as handle:
        documents = sum(1 for line in handle if line.strip())
    queries = args.out / "queries.json"
    queries.write_text(json.dumps(data.queries), encoding="utf-8")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ANONYMIZED_TELEMETRY": "False",
    }
    env.pop("RAG_DATA_DIR", None)
    ingest: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    query: dict[str, list[dict[str, Any]]] = {}
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
            for system in [s for s in systems if s != "bare"] + (
                ["bare"] if "bare" in systems else []
            ):
                work = Path(tmp) / system
                figures = _ingest(system, data.corpus, work, env)
                ingest[system].append(figures)
                _say(
                    f"[{rep + 1}/{args.repeat}] {system} ingest: {figures['wall_s']:.1f} s, "
                    f"{figures.get('chunks', '?')} chunks, peak {figures['peak_rss_mb']:.0f} MB"
                )
            for system, mode in QUERIERS:
                if system not in systems:
                    continue
                figures = _query(system, mode, Path(tmp) / system, queries, env)
                figures["ndcg@10"] = evaluate(figures.pop("ranked"), data.qrels)["ndcg@10"]
                query.setdefault(f"{system}:{mode}", []).append(figures)
                _say(
                    f"[{rep + 1}/{args.repeat}] {system} {mode} queries: "
                    f"p50 {figures['p50_ms']:.1f} ms, nDCG@10 {figures['ndcg@10']:.4f}"
                )
    summary = summarize(ingest, query, documents)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"Python {platform.python_version()}",
        "dataset": str(args.dataset),
        "documents": documents,
        "queries": len(data.queries),
        "repeat": args.repeat,
        "summary": summary,
        "runs": {"ingest": ingest, "query": query},
    }
    (args.out / "bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    _say("\n" + "\n".join(table(report)))
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
