"""Reading a BEIR-format dataset folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.jsonl import objects

__all__ = ["BeirDataset", "load_beir"]


@dataclass(frozen=True, slots=True)
class BeirDataset:
    """A BEIR dataset: where its corpus is, the split's queries and relevance judgements."""

    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Load the queries judged in `split` and their qrels.

    Raises:
        ConfigError: A file is missing or unreadable (the message names it).
    """
    corpus, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for path in (corpus, queries_file, qrels_file):
        if not path.is_file():
            raise ConfigError(
                f"{path} not found: a BEIR folder holds corpus.jsonl, queries.jsonl and "
                f"qrels/{split}.tsv (download one from the BEIR benchmark page)"
            )
    qrels = _read_qrels(qrels_file)
    queries = _read_queries(queries_file, set(qrels))
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise ConfigError(f"{queries_file} lacks judged queries {missing[:5]}")
    return BeirDataset(folder.resolve().name, corpus, queries, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError:
                raise ConfigError(f"{path}: bad score in row {row}") from None
    return qrels


def _read_queries(path: Path, wanted: set[str]) -> dict[str, str]:
    queries: dict[str, str] = {}
    for number, row in objects(path):
        if isinstance(row, ValueError):
            raise ConfigError(f"{path} line {number}: {row}")
        if str(row.get("_id")) in wanted:
            queries[str(row["_id"])] = str(row.get("text", ""))
    return queries
