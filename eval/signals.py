"""The retrieval signals table: each candidate signal's nDCG@10 on a BEIR folder, replayed
exactly (brute-force cosine, BM25 in numpy with the index's own terms and the configured
k1, b) over the index `rag eval beir FOLDER` built, so every variant is scored on the same
candidates in seconds.

    rag eval beir ../shared/data/beir/scifact          # builds (or reuses) the eval index
    python -m eval.signals ../shared/data/beir/scifact  # the table
    python -m eval.signals ../shared/data/beir/scifact --sentences  # + sentence vectors (slow)

The replay of the default fusion matches `rag eval beir` to within 0.001 on SciFact (the
store's HNSW search is approximate); what the README reports as a signal's effect is the
difference between two rows of this table, and the shipped ones were then checked with
`rag eval beir` itself.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from eval.beir import eval_config
from eval.beir_folder import load_beir
from eval.metrics import evaluate
from rag.config import load_config
from rag.lexical.analyzer import contextual_text
from rag.runtime import Runtime
from rag.text import split_sentences

__all__ = ["Replay", "main"]

N = 300  # candidates per list, as `rag eval beir` asks for
List = tuple[np.ndarray, np.ndarray]  # (ranked chunk numbers, every chunk's score)
Lists = dict[str, List]  # by search name


class Replay:
    """An eval index in memory: chunk vectors, BM25 weights, the questions."""

    def __init__(self, folder: Path, sentences: bool = False) -> None:
        dataset = load_beir(folder)
        with Runtime.open(load_config()) as runtime:
            config = eval_config(runtime.config, dataset.name)
            with runtime.derived(config) as reader:
                kb = reader.kb()
                chunks, vectors = [], []
                for part, part_vectors in kb.index.stores[0].scan():
                    visible = kb.index.catalog.visible(c.chunk_id for c in part)
                    for chunk, vector in zip(part, part_vectors, strict=True):
                        if chunk.chunk_id in visible:
                            chunks.append(chunk)
                            vectors.append(vector)
                analyzer = kb.index.analyzer
                self.terms = [analyzer.terms(contextual_text(c)) for c in chunks]
                self.qids = list(dataset.queries)
                texts = [dataset.queries[q] for q in self.qids]
                self.qvecs = np.stack([kb.embedder.embed_query(t) for t in texts])
                self.qterms = [analyzer.terms(t) for t in texts]
                self.titles = [analyzer.terms(c.section.split(" > ")[0]) for c in chunks]
                self.k1, self.b = kb.config.lexical.k1, kb.config.lexical.b
                if sentences:
                    self._sentences(kb.embedder, chunks)
        self.qrels = dataset.qrels
        self.doc = [c.doc_id for c in chunks]
        self.vecs = np.asarray(vectors, dtype=np.float32)
        self._build_bm25()

    def _sentences(self, embedder: object, chunks: list) -> None:  # type: ignore[type-arg]
        owner, texts = [], []
        for i, chunk in enumerate(chunks):
            for sentence in split_sentences(chunk.text):
                if len(sentence.split()) >= 3:
                    owner.append(i)
                    texts.append(sentence)
        embed = embedder.embed_documents  # type: ignore[attr-defined]
        self.sentence_owner = np.asarray(owner)
        self.sentence_vecs = np.concatenate(
            [embed(texts[s : s + 512]) for s in range(0, len(texts), 512)]
        )

    def _build_bm25(self) -> None:
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, terms in enumerate(self.terms):
            for term, count in Counter(terms).items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                vals.append(count)
        n = len(self.terms)
        tf = sp.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype=np.float64)
        length = np.asarray(tf.sum(axis=1)).ravel()
        df = np.bincount(tf.indices, minlength=len(vocab))
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        coo = tf.tocoo()
        norm = self.k1 * (1 - self.b + self.b * length[coo.row] / length.mean())
        w = coo.data * (self.k1 + 1) / (coo.data + norm) * self.idf[coo.col]
        self.weights = sp.csc_matrix((w, (coo.row, coo.col)), shape=tf.shape)
        self.tf, self.length, self.vocab = tf, length, vocab
        self.words = {j: t for t, j in vocab.items()}

    def bm25(self, query: Mapping[str, float]) -> np.ndarray:
        scores = np.zeros(len(self.terms))
        for term, weight in query.items():
            j = self.vocab.get(term)
            if j is not None:
                column = self.weights.getcol(j)
                scores[column.indices] += weight * column.data
        return scores

    def ndcg(self, rank: Callable[[int], list[int]]) -> float:
        run = {}
        for qi, q in enumerate(self.qids):
            run[q] = list(dict.fromkeys(self.doc[i] for i in rank(qi)))[:100]
        return evaluate(run, self.qrels)["ndcg@10"]


def top(scores: np.ndarray, n: int = N, positive: bool = False) -> np.ndarray:
    best = np.argpartition(-scores, min(n, len(scores) - 1))[:n]
    best = best[np.argsort(-scores[best], kind="stable")]
    return best[scores[best] > 0] if positive else best


def fuse(
    lists: Lists, weights: Mapping[str, float] | None = None, how: str = "minmax"
) -> list[int]:
    """The pipeline's fusion: min-max (missing 0), z-score (missing: the list's lowest) or
    reciprocal rank, weights by list name (default 1 each)."""
    total: dict[int, float] = defaultdict(float)
    every = {int(i) for ranked, _ in lists.values() for i in ranked}
    for name, (ranked, scores) in lists.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if not len(ranked) or weight == 0:
            continue
        values = scores[ranked]
        if how == "rrf":
            found = {int(i): 1 / (60 + r) for r, i in enumerate(ranked, 1)}
            floor = 0.0
        elif how == "zscore":
            spread = values.std() or 1.0
            normed = (values - values.mean()) / spread
            found, floor = dict(zip(ranked.tolist(), normed, strict=True)), float(normed.min())
        else:
            span = values.max() - values.min()
            normed = (values - values.min()) / span if span > 0 else np.ones_like(values)
            found, floor = dict(zip(ranked.tolist(), normed, strict=True)), 0.0
        for i in every:
            total[i] += weight * found.get(i, floor)
    return sorted(total, key=lambda i: -total[i])


def best_docs(r: Replay, ranked: list[int], m: int) -> list[int]:
    """The best chunk of each of the first `m` distinct documents."""
    chosen: dict[str, int] = {}
    for i in ranked:
        chosen.setdefault(r.doc[i], i)
        if len(chosen) == m:
            break
    return list(chosen.values())


def rocchio(r: Replay, qi: int, ranked: list[int], m: int = 5, beta: float = 0.5) -> List:
    moved = r.qvecs[qi] + beta * r.vecs[best_docs(r, ranked, m)].mean(axis=0)
    scores = r.vecs @ (moved / np.linalg.norm(moved))
    return top(scores), scores


def rm3(
    r: Replay, qi: int, ranked: list[int], m: int = 5, terms: int = 20, alpha: float = 0.7
) -> List:
    relevance: dict[int, float] = defaultdict(float)
    for i in ranked[:m]:
        row = r.tf.getrow(i)
        for j, count in zip(row.indices, row.data, strict=True):
            relevance[j] += count / row.data.sum() / m
    kept = [(j, v) for j, v in relevance.items() if r.idf[j] > 1.0]
    expansion = sorted(kept, key=lambda x: -x[1])[:terms]
    total = sum(v for _, v in expansion) or 1.0
    asked = Counter(r.qterms[qi])
    query: dict[str, float] = defaultdict(float)
    for term, count in asked.items():
        query[term] += alpha * count / sum(asked.values())
    for j, v in expansion:
        query[r.words[j]] += (1 - alpha) * v / total
    scores = r.bm25(query)
    return top(scores, positive=True), scores


def gap_weights(lists: Lists) -> dict[str, float]:
    """Weights from how far each list's best stands above its tenth (of its whole span)."""
    confidence = {}
    for name, (ranked, scores) in lists.items():
        v = scores[ranked]
        confidence[name] = (v[0] - v[10]) / (v[0] - v[-1] + 1e-9) if len(v) > 10 else 1.0
    total = sum(confidence.values()) or 1.0
    return {k: c / total for k, c in confidence.items()}


def titles(r: Replay, qi: int) -> List:
    """BM25 over the chunks' document titles alone (a title field)."""
    counts = [Counter(t) for t in r.titles]
    n = len(counts)
    avg = float(np.mean([sum(c.values()) for c in counts])) or 1.0
    df = Counter(t for c in counts for t in c)
    scores = np.zeros(n)
    for term, q in Counter(r.qterms[qi]).items():
        if df[term] == 0:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for i, c in enumerate(counts):
            if term in c:
                tf, dl = c[term], sum(c.values())
                scores[i] += q * idf * tf * (r.k1 + 1) / (tf + r.k1 * (1 - r.b + r.b * dl / avg))
    return top(scores, positive=True), scores


def sentence_list(r: Replay, qi: int) -> List:
    """Each chunk scored by its best sentence's cosine."""
    best = np.full(len(r.doc), -1.0)
    np.maximum.at(best, r.sentence_owner, r.sentence_vecs @ r.qvecs[qi])
    return top(best), best


def table(r: Replay) -> list[tuple[str, float]]:
    """Every signal's nDCG@10, named."""
    lists: list[Lists] = []
    for qi in range(len(r.qids)):
        dense = r.vecs @ r.qvecs[qi]
        lexical = r.bm25(Counter(r.qterms[qi]))
        lists.append({"dense": (top(dense), dense), "bm25": (top(lexical, positive=True), lexical)})
    first = [fuse(x) for x in lists]

    def moved(qi: int) -> Lists:
        return {"dense": rocchio(r, qi, first[qi]), "bm25": lists[qi]["bm25"]}

    rows: list[tuple[str, Callable[[int], list[int]]]] = [
        ("dense", lambda qi: list(lists[qi]["dense"][0])),
        ("bm25", lambda qi: list(lists[qi]["bm25"][0])),
        ("hybrid (min-max 0.5/0.5)", lambda qi: first[qi]),
        ("hybrid, dense weight 0.4", lambda qi: fuse(lists[qi], {"dense": 0.4, "bm25": 0.6})),
        ("hybrid, z-score fusion", lambda qi: fuse(lists[qi], how="zscore")),
        ("hybrid, reciprocal rank", lambda qi: fuse(lists[qi], how="rrf")),
        (
            "hybrid, adaptive weights (score gap)",
            lambda qi: fuse(lists[qi], gap_weights(lists[qi])),
        ),
        ("bm25 + RM3 (5 docs, 20 terms, 0.7)", lambda qi: list(rm3(r, qi, first[qi])[0])),
        ("hybrid with RM3 bm25", lambda qi: fuse({**lists[qi], "bm25": rm3(r, qi, first[qi])})),
        ("dense + Rocchio (5 docs, 0.5)", lambda qi: list(rocchio(r, qi, first[qi])[0])),
        ("hybrid with Rocchio dense (default)", lambda qi: fuse(moved(qi))),
        ("Rocchio + adaptive weights", lambda qi: fuse(moved(qi), gap_weights(moved(qi)))),
        (
            "hybrid + title field (0.2)",
            lambda qi: fuse({**lists[qi], "title": titles(r, qi)}, {"title": 0.2}),
        ),
    ]
    if hasattr(r, "sentence_vecs"):
        weights = {"dense": 0.5, "sentences": 0.5, "bm25": 1.0}
        rows.append(
            (
                "hybrid + max-sentence dense",
                lambda qi: fuse({**lists[qi], "sentences": sentence_list(r, qi)}, weights),
            )
        )
    return [(name, r.ndcg(rank)) for name, rank in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.signals", description=__doc__)
    parser.add_argument("folder", type=Path, help="a BEIR folder `rag eval beir` has indexed")
    parser.add_argument("--sentences", action="store_true", help="embed every sentence (slow)")
    args = parser.parse_args(argv)
    replay = Replay(args.folder, args.sentences)
    sys.stdout.write(f"| signal | nDCG@10 ({args.folder.name}) |\n|---|---|\n")
    for name, value in table(replay):
        sys.stdout.write(f"| {name} | {value:.4f} |\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
