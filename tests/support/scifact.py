"""A slice of SciFact as a BEIR folder, for tests that need real questions over a small
corpus."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["scifact_slice"]


def scifact_slice(scifact: Path, folder: Path, questions: int = 100, more_docs: int = 400) -> Path:
    """A BEIR folder with SciFact's first test questions, their relevant documents and
    the first `more_docs` other documents, as SciFact writes them."""
    lines = (scifact / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    header, judged = lines[0], [line.split("\t") for line in lines[1:] if line.strip()]
    chosen = set(list(dict.fromkeys(q for q, _, _ in judged))[:questions])
    kept = [row for row in judged if row[0] in chosen]
    relevant = {d for _, d, _ in kept}
    corpus, others = [], 0
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc_id = json.loads(line)["_id"]
            if doc_id in relevant or others < more_docs:
                others += doc_id not in relevant
                corpus.append(line)
    with (scifact / "queries.jsonl").open(encoding="utf-8") as handle:
        asked = [line for line in handle if json.loads(line)["_id"] in chosen]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(asked), encoding="utf-8")
    rows = "".join("\t".join(row) + "\n" for row in kept)
    (folder / "qrels" / "test.tsv").write_text(f"{header}\n{rows}", encoding="utf-8")
    assert len(asked) == questions and len(corpus) >= more_docs + len(relevant) // 2
    return folder
