"""The cross-encoder reranker's real loading and scoring path, with a tiny random model.

No reranker weights can be fetched here, so the test writes a 1-layer BERT cross-encoder
(random weights, its own WordPiece vocabulary) to a folder and loads it as a user would load
bge-reranker-v2-m3 from a local path. Its scores are meaningless; what is tested is that
they are the model's own (checked against a direct `transformers` forward pass), that hits
are re-ordered by them, and that `candidates` and `max_length` are honoured.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import RerankerConfig
from rag.errors import ModelUnavailableError
from rag.rerank import create_reranker
from rag.rerank.cross_encoder import CrossEncoderReranker
from rag.types import Chunk, Hit, StageScore

TEXTS = [
    "Vitamin D deficiency lowers bone mineral density in older adults.",
    "Employees carry over at most five days of annual leave.",
    "The kernel schedules threads across every available core.",
    "Bone density improves with vitamin D and calcium supplements.",
    "Parental leave can be split into two blocks of eight weeks.",
    "Caching query results reduces the load on the database.",
]
QUERY = "does vitamin D improve bone density"


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    words = sorted({w.strip(".,").lower() for t in [*TEXTS, QUERY] for w in t.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    assert tokenizer.vocab_size == len(vocab)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _logits(folder: Path, texts: list[str], max_length: int) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = tokenizer(
        [QUERY] * len(texts),
        texts,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        return [float(v) for v in model(**batch).logits[:, 0]]


def _hits(texts: list[str]) -> list[Hit]:
    return [
        Hit(
            Chunk(f"c{i}", f"d{i}", "v", text, 0, "test.md"),
            1.0 - i / 10,
            "fused",
            (StageScore("fused", 1.0 - i / 10, i + 1),),
        )
        for i, text in enumerate(texts)
    ]


def test_tiny_cross_encoder_loads_from_a_folder_and_reorders_hits(tiny_reranker: Path) -> None:
    logits = _logits(tiny_reranker, TEXTS, 512)
    assert len({round(v, 6) for v in logits}) == len(TEXTS)  # no ties: the order is the model's
    # Hand the hits over worst first by the model's own judgement: it must turn them around.
    worst_first = [TEXTS[i] for i in sorted(range(len(TEXTS)), key=lambda i: logits[i])]
    reranker = create_reranker(RerankerConfig(backend="cross_encoder", path=str(tiny_reranker)))
    assert isinstance(reranker, CrossEncoderReranker)
    ranked = reranker.rerank(QUERY, _hits(worst_first))

    assert [h.chunk.text for h in ranked] == worst_first[::-1]
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    by_text = dict(zip(TEXTS, logits, strict=True))
    for rank, hit in enumerate(ranked, 1):
        assert hit.stage == "rerank"
        assert [s.stage for s in hit.stages] == ["fused", "rerank"]
        assert hit.stages[-1] == StageScore("rerank", hit.score, rank)
        # One label: CrossEncoder applies a sigmoid to the model's logit.
        assert hit.score == pytest.approx(
            1 / (1 + 2.718281828459045 ** -by_text[hit.chunk.text]), rel=1e-4
        )


def test_only_candidates_are_rescored_and_pairs_are_cut_to_max_length(tiny_reranker: Path) -> None:
    config = RerankerConfig(
        backend="cross_encoder", path=str(tiny_reranker), candidates=3, max_length=12
    )
    reranker = CrossEncoderReranker(config)
    hits = _hits(TEXTS)
    ranked = reranker.rerank(QUERY, hits)
    assert ranked[3:] == hits[3:]
    short = _logits(tiny_reranker, TEXTS[:3], 12)
    expected = sorted(range(3), key=lambda i: -short[i])
    assert [h.chunk.text for h in ranked[:3]] == [TEXTS[i] for i in expected]
    assert reranker.scores(QUERY, TEXTS[:3]) == pytest.approx(
        [1 / (1 + 2.718281828459045**-v) for v in short], rel=1e-4
    )


def test_missing_reranker_folder_says_what_to_set(tmp_path: Path) -> None:
    reranker = create_reranker(RerankerConfig(backend="cross_encoder", path=str(tmp_path / "no")))
    with pytest.raises(ModelUnavailableError, match="RAG_RERANKER__PATH"):
        reranker.rerank(QUERY, _hits(TEXTS))


def test_no_reranker_keeps_the_order() -> None:
    hits = _hits(TEXTS)
    assert create_reranker(RerankerConfig()).rerank(QUERY, hits) == hits
