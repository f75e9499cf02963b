"""Context compression with the real MiniLM embedder: sentence filtering with neighbours,
the token budget, lost-in-the-middle order, and the lexical path for Chinese questions."""

from __future__ import annotations

from rag.compress import SentenceCompressor, create_compressor
from rag.config import CompressionConfig, LexicalConfig
from rag.lexical.analyzer import Analyzer
from rag.types import Chunk, Hit

LEAVE = (
    "The office opens at eight in the morning. "
    "Employees receive twenty days of paid annual leave per year. "
    "Unused leave days can be carried over until the end of March. "
    "The cafeteria serves vegetarian lunches on Fridays. "
    "Parking permits are issued by the facilities team."
)
NOISE = "The quarterly report covers revenue in three regions. Sales grew in the north."


def _hits(*texts: str) -> list[Hit]:
    return [
        Hit(Chunk(f"c{i}", f"d{i}", "v", t, 0, f"doc{i}.md"), 1.0 - i / 10, "fused")
        for i, t in enumerate(texts)
    ]


def _compressor(embedder, **options: object) -> SentenceCompressor:  # type: ignore[no-untyped-def]
    config = CompressionConfig(**options)  # type: ignore[arg-type]
    compressor = create_compressor(config, embedder, Analyzer(LexicalConfig()), {"en"})
    assert isinstance(compressor, SentenceCompressor)
    return compressor


def test_keeps_relevant_sentences_with_neighbours_and_drops_unrelated_chunks(embedder) -> None:  # type: ignore[no-untyped-def]
    question = "How many days of paid annual leave do employees get?"
    kept = _compressor(embedder, neighbours=0, reorder=False).compress(
        question, _hits(LEAVE, NOISE)
    )
    assert [h.chunk.chunk_id for h in kept] == ["c0"]
    text = kept[0].chunk.text
    assert "twenty days of paid annual leave" in text
    assert "cafeteria" not in text and "Parking" not in text
    assert kept[0].score == 0.9 + 0.1 and kept[0].stage == "fused"  # scores untouched

    wider = _compressor(embedder, neighbours=1, reorder=False).compress(question, _hits(LEAVE))
    wide = wider[0].chunk.text
    assert "opens at eight" in wide and "carried over" in wide  # one sentence each side
    assert len(wide) > len(text)


def test_the_best_chunk_is_kept_even_when_nothing_is_similar(embedder) -> None:  # type: ignore[no-untyped-def]
    kept = _compressor(embedder, min_similarity=0.99).compress("leave days", _hits(LEAVE, NOISE))
    assert [h.chunk.chunk_id for h in kept] == ["c0"]
    assert kept[0].chunk.text in LEAVE  # its single best sentence


def test_budget_is_respected(embedder) -> None:  # type: ignore[no-untyped-def]
    budget = 30
    compressor = _compressor(embedder, min_similarity=-1.0, budget_tokens=budget, reorder=False)
    kept = compressor.compress("leave", _hits(LEAVE, LEAVE, LEAVE))
    sentences = [s for h in kept for s in h.chunk.text.split(" … ")]
    assert sum(embedder.tokenizer.count(sentences)) <= budget
    assert kept and len(kept) < 3


def test_lost_in_the_middle_order(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [f"Employees receive {n} days of paid annual leave per year." for n in range(5)]
    kept = _compressor(embedder, min_similarity=-1.0).compress("annual leave", _hits(*texts))
    assert [h.chunk.chunk_id for h in kept] == ["c0", "c2", "c4", "c3", "c1"]


def test_chinese_question_with_english_only_embedder_filters_by_terms(embedder) -> None:  # type: ignore[no-untyped-def]
    text = "公司每年提供二十天带薪年假。食堂每周五供应素食午餐。未使用的年假可以保留到次年三月。"
    kept = _compressor(embedder, neighbours=0, reorder=False).compress(
        "员工每年有多少天带薪年假？", _hits(text)
    )
    assert "二十天带薪年假" in kept[0].chunk.text
    assert "食堂" not in kept[0].chunk.text


def test_cached_embedder_embeds_each_sentence_once(embedder) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from rag.embed.cache import CachedEmbedder

    calls: list[list[str]] = []

    class Counting:  # the real embedder, with its calls recorded
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(embedder, name)

        def embed_documents(self, texts):  # type: ignore[no-untyped-def]
            calls.append(list(texts))
            return embedder.embed_documents(texts)

    cached = CachedEmbedder(Counting(), size=3)  # type: ignore[arg-type]
    first = cached.embed_documents(["alpha beta", "gamma delta", "alpha beta"])
    again = cached.embed_documents(["gamma delta", "epsilon"])
    assert calls == [["alpha beta", "gamma delta"], ["epsilon"]]
    assert np.allclose(first[1], again[0]) and np.allclose(first[0], first[2])
    assert np.allclose(again[1], embedder.embed_documents(["epsilon"])[0])
    cached.embed_documents(["zeta", "eta"])  # size 3: the least recently used go
    cached.embed_documents(["alpha beta"])
    assert calls[-1] == ["alpha beta"]


def test_cached_embedder_embeds_a_repeated_query_once(embedder) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from rag.embed.cache import CachedEmbedder

    calls: list[list[str]] = []

    class Counting:  # the real embedder, with its query calls recorded
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(embedder, name)

        def embed_queries(self, texts):  # type: ignore[no-untyped-def]
            calls.append(list(texts))
            return embedder.embed_queries(texts)

    cached = CachedEmbedder(Counting(), size=8)  # type: ignore[arg-type]
    first = cached.embed_query("how many days of leave?")
    both = cached.embed_queries(["how many days of leave?", "remote work rules"])
    again = cached.embed_query("remote work rules")
    assert calls == [["how many days of leave?"], ["remote work rules"]]
    assert np.array_equal(first, both[0]) and np.array_equal(again, both[1])
    assert np.allclose(first, embedder.embed_query("how many days of leave?"), atol=1e-6)
    # a passage with the same text is not a query: embedded as a document
    assert not np.array_equal(cached.embed_documents(["remote work rules"])[0], np.zeros(384))
    assert calls == [["how many days of leave?"], ["remote work rules"]]
