from __future__ import annotations

import pytest

from ingest.split import TokenSplitter
from rag.config import ChunkerConfig
from rag.errors import ConfigError
from rag.types import Document, Element


def _doc(*elements: Element, doc_id: str = "d") -> Document:
    return Document(doc_id, doc_id, "v1", tuple(elements))


def test_no_chunk_exceeds_the_model_input(embedder) -> None:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(ChunkerConfig(), embedder.tokenizer)
    long_en = "The employee handbook describes annual leave and sick leave in detail. " * 200
    long_zh = "员工每年享有十五天带薪年假，病假需要提供医生证明。" * 200
    no_breaks = "x" * 5000 + " supercalifragilistic" * 300
    chunks = splitter.split(_doc(Element(long_en), Element(long_zh), Element(no_breaks)))
    counts = embedder.tokenizer.count([c.text for c in chunks])
    assert max(counts) <= 200 <= embedder.tokenizer.max_tokens
    assert [c.n_tokens for c in chunks] == counts
    joined = "".join(c.text for c in chunks)
    assert "带薪年假" in joined and "supercalifragilistic" in joined


def test_sentences_are_not_cut_when_they_fit(embedder) -> None:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(ChunkerConfig(chunk_tokens=30, overlap_tokens=0), embedder.tokenizer)
    text = "".join(f"这是第{i}个完整的句子，用来测试切分。" for i in range(30))
    for chunk in splitter.split(_doc(Element(text))):
        assert chunk.text.endswith("。"), chunk.text


def test_sections_and_pages_travel_as_metadata(embedder) -> None:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(ChunkerConfig(chunk_tokens=40, overlap_tokens=0), embedder.tokenizer)
    chunks = splitter.split(
        _doc(
            Element("Handbook", "Title", 1, ("Handbook",)),
            Element("Leave", "Title", 1, ("Handbook", "Leave")),
            Element(
                "Employees get twenty days of paid leave. " * 4,
                "NarrativeText",
                2,
                ("Handbook", "Leave"),
            ),
            Element("Travel", "Title", 3, ("Handbook", "Travel")),
            Element(
                "Book flights through the portal. " * 6, "NarrativeText", 3, ("Handbook", "Travel")
            ),
        )
    )
    leave = [c for c in chunks if "paid leave" in c.text]
    travel = [c for c in chunks if "flights" in c.text]
    assert leave and all(c.section.startswith("Handbook") for c in leave)
    assert any(c.section == "Handbook > Travel" and c.page == 3 for c in travel)
    assert not any("paid leave" in c.text and "flights" in c.text for c in chunks)


def test_overlap_repeats_trailing_sentences(embedder) -> None:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(ChunkerConfig(chunk_tokens=40, overlap_tokens=12), embedder.tokenizer)
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = splitter.split(_doc(Element(text)))
    assert len(chunks) > 3
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert second.text.split(".")[0] in first.text


def test_ids_are_content_hashes(embedder) -> None:  # type: ignore[no-untyped-def]
    splitter = TokenSplitter(ChunkerConfig(), embedder.tokenizer)
    a = splitter.split(_doc(Element("Same text. Again."), doc_id="a"))
    again = splitter.split(_doc(Element("Same text. Again."), doc_id="a"))
    other = splitter.split(_doc(Element("Same text. Again."), doc_id="b"))
    repeated = splitter.split(
        _doc(Element("Boilerplate."), Element("x " * 300), Element("Boilerplate."))
    )
    assert [c.chunk_id for c in a] == [c.chunk_id for c in again]
    assert a[0].chunk_id != other[0].chunk_id
    assert len({c.chunk_id for c in repeated}) == len(repeated)


def test_chunk_size_above_model_input_is_refused(embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="at most 254"):
        TokenSplitter(ChunkerConfig(chunk_tokens=400), embedder.tokenizer)
