"""Tiny random sentence-transformer models built here (no weights can be downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.config import EmbedderConfig
from rag.embed.model_files import resolve_model_dir


def tiny_sentence_model(folder: Path, pooling: str = "mean") -> Path:
    """A one-layer random BERT with the bundled model's tokenizer, saved by
    sentence-transformers in `folder` with `pooling` ("mean" or "cls")."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel

    bundled = resolve_model_dir(EmbedderConfig())
    base = folder / "bert"
    base.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(bundled / name, base / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(base)
    word = models.Transformer(str(base), max_seq_length=128)
    out = folder / "model"
    SentenceTransformer(modules=[word, models.Pooling(32, pooling_mode=pooling)]).save(str(out))
    return out
