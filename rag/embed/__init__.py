"""Embedders, chosen by `embedder.backend`."""

from __future__ import annotations

from collections.abc import Callable

from rag.config import EmbedderConfig
from rag.embed.base import Embedder, ModelFingerprint, Tokenizer
from rag.registry import build

__all__ = ["REGISTRY", "Embedder", "ModelFingerprint", "Tokenizer", "create_embedder"]


def _sentence_transformers(config: EmbedderConfig) -> Embedder:
    from rag.embed.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(config)


def _onnx(config: EmbedderConfig) -> Embedder:
    from rag.embed.onnx import OnnxEmbedder

    return OnnxEmbedder(config)


def _openvino(config: EmbedderConfig) -> Embedder:
    from rag.embed.openvino_embed import OpenVinoEmbedder

    return OpenVinoEmbedder(config)


def _openai(config: EmbedderConfig) -> Embedder:
    from rag.embed.openai_embed import OpenAIEmbedder

    return OpenAIEmbedder(config)


def _ollama(config: EmbedderConfig) -> Embedder:
    from rag.embed.ollama_embed import OllamaEmbedder

    return OllamaEmbedder(config)


REGISTRY: dict[str, Callable[[EmbedderConfig], Embedder]] = {
    "sentence_transformers": _sentence_transformers,
    "onnx": _onnx,
    "openvino": _openvino,
    "openai": _openai,
    "ollama": _ollama,
}


def create_embedder(config: EmbedderConfig) -> Embedder:
    """Build the embedder named by `config.backend` (not loaded yet: call `warm_up`)."""
    return build(REGISTRY, "embedder.backend", config.backend, config)
