"""The extractive summary carries what tells a document apart: its title, its section
headings and its key terms before the central sentences, within `max_chars`; over the real
user guides (English and Chinese) as the Markdown parser sections them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.lexical.stopwords import STOPWORDS
from rag.summary import extractive_summary
from rag.types import Chunk

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"


def _sections(path: Path) -> tuple[str, list[Chunk]]:
    """The file's title and one chunk per `##` section, its section path as ingest sets it."""
    text = path.read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", text, re.M).group(1).strip()  # type: ignore[union-attr]
    parts = re.split(r"^## (.+)$", text, flags=re.M)[1:]
    chunks = [
        Chunk(f"c{i}", "d", "v", body.strip(), i, str(path), section=f"{title} > {heading.strip()}")
        for i, (heading, body) in enumerate(zip(parts[::2], parts[1::2], strict=True))
    ]
    return title, chunks


@pytest.mark.parametrize("name", ["user-guide.md", "用户指南.md"])
def test_summary_names_title_headings_and_key_terms(name: str, embedder) -> None:  # type: ignore[no-untyped-def]
    title, chunks = _sections(GUIDE / name)
    vectors = embedder.embed_documents([c.text for c in chunks])
    summary = extractive_summary(title, chunks, vectors, max_chars=800)
    lines = summary.text.split("\n")
    assert lines[0] == title and len(summary.text) <= 800
    headings = [c.section.split(" > ")[1] for c in chunks]
    assert lines[1] == "; ".join(headings)
    terms = lines[2].split(", ")
    body = "\n".join(c.text for c in chunks).lower()
    assert len(terms) >= 5
    for term in terms:  # words the document repeats, not stop words, not the title's
        assert body.count(term) >= 2 and term not in STOPWORDS["en"] | STOPWORDS["zh"]
        assert term not in title.lower().split()
    assert any(line in "\n".join(c.text for c in chunks) for line in lines[3:])  # sentences


def test_a_short_budget_keeps_the_title_and_drops_what_does_not_fit(embedder) -> None:  # type: ignore[no-untyped-def]
    title, chunks = _sections(GUIDE / "user-guide.md")
    vectors = embedder.embed_documents([c.text for c in chunks])
    summary = extractive_summary(title, chunks, vectors, max_chars=40)
    assert summary.text.startswith(title) and len(summary.text) <= 40
