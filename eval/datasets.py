"""Evaluation question sets: our QA format (JSON lines) and BEIR folders, as one `EvalSet`.

The QA format, one JSON object per line (only `question` is required):

    {"id": "q1", "question": "How many days of leave?", "reference": "Twenty days.",
     "answers": ["twenty days"], "sources": ["handbook.md"], "doc_ids": [], "kb": "hr"}

- `reference`: a reference answer (ROUGE-L, BLEU, exact match, context recall).
- `answers`: phrases a right answer contains (contains-answer); a chunk that contains one is
  relevant, as `rag eval passages` counts it, when no `doc_ids`/`sources` are given.
- `doc_ids` / `sources`: the relevant documents (a source matches a document whose source
  path equals it or ends with `/` + it).
- `kb`: the knowledge base the question is asked in (default: `--kb`, else `default`).
- `id`: defaults to the line number.

A BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv) becomes the same items, with
graded relevant documents and the corpus to index.

Example:
    >>> items = load_qa(Path("questions.jsonl"))  # doctest: +SKIP
    >>> items[0].question  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.beir_folder import load_beir
from rag.errors import ConfigError
from rag.jsonl import objects

__all__ = ["EvalSet", "QaItem", "load_eval_set", "load_qa"]

_LISTS = ("answers", "doc_ids", "sources")
_KNOWN = {"id", "question", "reference", "kb", "chunk_id", "lang", "source", *_LISTS}


@dataclass(frozen=True, slots=True)
class QaItem:
    """One question with whatever the set knows about its answer."""

    id: str
    question: str
    reference: str = ""
    answers: tuple[str, ...] = ()
    doc_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    kb: str = ""
    relevance: dict[str, int] = field(default_factory=dict)  # BEIR: graded, by doc id

    def to_json(self) -> dict[str, Any]:
        """The item as JSON-ready data (empty fields left out)."""
        out: dict[str, Any] = {"id": self.id, "question": self.question}
        for name in ("reference", "kb"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in _LISTS:
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.relevance:
            out["relevance"] = self.relevance
        return out


@dataclass(frozen=True, slots=True)
class EvalSet:
    """The questions of one evaluation, and the corpus to index first (BEIR), if any."""

    name: str
    path: Path
    items: tuple[QaItem, ...]
    corpus: Path | None = None

    @property
    def judged(self) -> bool:
        """Whether any question says which documents are relevant (retrieval metrics)."""
        return any(i.relevance or i.doc_ids or i.sources or i.answers for i in self.items)


def load_eval_set(path: Path, split: str = "test") -> EvalSet:
    """A BEIR folder or a QA JSON-lines file.

    Raises:
        ConfigError: The path is neither, or a line is malformed (the message names it).
    """
    if path.is_dir():
        beir = load_beir(path, split)
        items = tuple(
            QaItem(id=q, question=text, relevance=dict(beir.qrels.get(q, {})))
            for q, text in beir.queries.items()
        )
        return EvalSet(beir.name, path, items, beir.corpus)
    return EvalSet(path.stem, path, tuple(load_qa(path)))


def load_qa(path: Path) -> list[QaItem]:
    """The questions of a QA JSON-lines file.

    Raises:
        ConfigError: The file is missing, empty, or a line is not a question object.
    """
    items: list[QaItem] = []
    seen: set[str] = set()
    try:
        rows = list(objects(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the question set {path}: {exc}") from exc
    for number, row in rows:
        item = _item(path, number, row)
        if item.id in seen:
            raise ConfigError(f"{path} line {number}: id {item.id!r} is used twice")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise ConfigError(f"{path} holds no questions; write one JSON object per line")
    return items


def _item(path: Path, number: int, row: dict[str, Any] | ValueError) -> QaItem:
    where = f"{path} line {number}"
    if isinstance(row, ValueError):
        raise ConfigError(f"{where}: {row}; expected an object with a question")
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}: `question` must be a non-empty string")
    unknown = sorted(set(row) - _KNOWN)
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown} (known: {sorted(_KNOWN)})")
    lists: dict[str, tuple[str, ...]] = {}
    for name in _LISTS:
        value = row.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: `{name}` must be a list of strings")
        lists[name] = tuple(v for v in value if v.strip())
    for name in ("reference", "kb"):
        if not isinstance(row.get(name, ""), str):
            raise ConfigError(f"{where}: `{name}` must be a string")
    return QaItem(
        id=str(row.get("id", number)),
        question=question.strip(),
        reference=str(row.get("reference", "")).strip(),
        kb=str(row.get("kb", "")),
        answers=lists["answers"],
        doc_ids=lists["doc_ids"],
        sources=lists["sources"],
    )
