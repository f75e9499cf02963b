"""Fitting the hit confidence, and the abstention curve that chooses `retrieval.min_score`.

For every BEIR folder given, the configured search runs each of its questions (on-topic) and
the other folders' questions (off-topic: asked of a corpus that does not answer them). From
the on-topic hits, labelled by the folder's judgements, a logistic model of the hit's
features (`rag.retrieve.confidence`) is fitted: one for questions the embedder reads
(`dense` + `bm25`), one for the others (`bm25`). The curve then reports, for thresholds on
the best hit's confidence, the share of off-topic questions that abstain and of on-topic
questions that keep an answer.

    python -m eval.calibrate dev/scifact dev/hotpot dev/cmrc dev/cmrc_hant --questions 100

Prints the fitted `[retrieval.confidence]`, the curve with the confidence as configured (run
it again with the new coefficients set to read the curve they give), and `by_pair`: for each
question set and corpus, the share that abstains (off-topic) or is answered (on-topic) at the
configured `retrieval.min_score`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.beir import eval_config
from eval.beir_folder import load_beir
from ingest.run import ingest_jsonl
from rag.config import load_config
from rag.knowledge_base import KnowledgeBase
from rag.retrieve.confidence import hit_features
from rag.runtime import Runtime
from rag.types import Hit

__all__ = ["Pairs", "abstention_curve", "fit_logistic", "main"]

DEPTH = 20  # hits per question that train the model
THRESHOLDS = (0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


@dataclass
class Pairs:
    """Labelled feature rows by model, and each question's best confidence."""

    rows: dict[str, list[tuple[dict[str, float], int]]] = field(
        default_factory=lambda: {"dense": [], "lexical": []}
    )
    on_topic: list[float] = field(default_factory=list)
    off_topic: list[float] = field(default_factory=list)
    by_pair: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def fit_logistic(
    rows: Sequence[tuple[dict[str, float], int]], names: Sequence[str], l2: float = 1e-3
) -> tuple[float, dict[str, float]]:
    """(bias, weights) of a logistic regression, by Newton's method with a small ridge."""
    x = np.array([[1.0] + [f.get(n, 0.0) for n in names] for f, _ in rows])
    y = np.array([label for _, label in rows], dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w)))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), {n: float(v) for n, v in zip(names, w[1:], strict=True)}


def abstention_curve(
    on_topic: Sequence[float], off_topic: Sequence[float], thresholds: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(threshold, share of off-topic questions abstaining, share of on-topic answered)."""
    on, off = np.asarray(on_topic), np.asarray(off_topic)
    return [
        (
            t,
            float(np.mean(off < t)) if len(off) else 0.0,
            float(np.mean(on >= t)) if len(on) else 0.0,
        )
        for t in thresholds
    ]


def _features(
    kb: KnowledgeBase, question: str, hits: Sequence[Hit]
) -> tuple[str, list[dict[str, float]]]:
    """Which model applies, and each hit's features as the calibrator computes them, from
    the dense and BM25 scores the hits carry (the searches' lists, as deep as the hits)."""
    ranked = {
        name: [(h.chunk.chunk_id, s.score) for h in hits for s in h.stages if s.stage == name]
        for name in ("dense", "bm25")
    }
    dense = ranked["dense"] or None
    features = hit_features(hits, dense, ranked["bm25"], kb.index.lexical_ceiling(question))
    return ("dense" if dense else "lexical"), features


def collect(runtime: Runtime, folders: Sequence[Path], questions: int) -> Pairs:
    """Search every folder with its own and the others' questions."""
    sets = [load_beir(folder) for folder in folders]
    pairs = Pairs()
    for dataset in sets:
        config = eval_config(runtime.config, dataset.name)
        with runtime.derived(config, write=True) as writer:
            kb = writer.kb(create="")
            ingest_jsonl(kb, dataset.corpus, prune=True)
            search = kb.pipeline.search
            for other in sets:
                asked = list(other.queries.items())[:questions]
                for query_id, text in asked:
                    hits = list(search.trace(text, 100).hits)
                    best = max((h.confidence or 0.0 for h in hits[:5]), default=0.0)
                    pairs.by_pair.setdefault((other.name, dataset.name), []).append(best)
                    if other is not dataset:
                        pairs.off_topic.append(best)
                        continue
                    pairs.on_topic.append(best)
                    model, features = _features(kb, text, hits)
                    relevant = dataset.qrels.get(query_id, {})
                    pairs.rows[model] += [
                        (f, int(relevant.get(h.chunk.doc_id, 0) > 0))
                        for f, h in zip(features[:DEPTH], hits[:DEPTH], strict=True)
                    ]
    return pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.calibrate", description=__doc__)
    parser.add_argument("folders", nargs="+", type=Path, help="BEIR folders")
    parser.add_argument("--questions", type=int, default=100, help="questions per folder")
    args = parser.parse_args(argv)
    with Runtime.open(load_config()) as runtime:
        pairs = collect(runtime, args.folders, args.questions)
        threshold = runtime.config.retrieval.min_score
    fitted = {}
    for model, names in (("dense", ["dense", "bm25"]), ("lexical", ["bm25"])):
        if pairs.rows[model]:
            bias, weights = fit_logistic(pairs.rows[model], names)
            fitted[model] = {
                "bias": round(bias, 3),
                "weights": {k: round(v, 3) for k, v in weights.items()},
            }
    curve = [
        {"min_score": t, "off_topic_abstain": round(a, 4), "on_topic_answered": round(b, 4)}
        for t, a, b in abstention_curve(pairs.on_topic, pairs.off_topic, THRESHOLDS)
    ]
    by_pair = [
        {
            "questions": asked,
            "corpus": corpus,
            f"{'answered' if asked == corpus else 'abstain'}_at_{threshold}": round(
                float(np.mean(np.asarray(best) >= threshold))
                if asked == corpus
                else float(np.mean(np.asarray(best) < threshold)),
                4,
            ),
        }
        for (asked, corpus), best in pairs.by_pair.items()
    ]
    report = {
        "fitted": fitted,
        "pairs": {m: len(r) for m, r in pairs.rows.items()},
        "on_topic_questions": len(pairs.on_topic),
        "off_topic_questions": len(pairs.off_topic),
        "curve": curve,
        "by_pair": by_pair,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
