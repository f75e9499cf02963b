"""RAG framework core: configuration, index, retrieval and answers.

Example:
    >>> from rag import RagPipeline, load_config
    >>> with RagPipeline.open(load_config()) as pipeline:  # doctest: +SKIP
    ...     print(pipeline.ask("what does the handbook say about leave?").text)
"""

from rag.config import RagConfig, load_config
from rag.errors import (
    ConfigError,
    EmptyIndexError,
    GenerationError,
    IndexLockedError,
    IndexMismatchError,
    IngestError,
    ModelUnavailableError,
    RagError,
    StoreError,
)
from rag.pipeline import RagPipeline
from rag.types import Answer, Chunk, Citation, Document, Element, Hit

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "Element",
    "EmptyIndexError",
    "GenerationError",
    "Hit",
    "IndexLockedError",
    "IndexMismatchError",
    "IngestError",
    "ModelUnavailableError",
    "RagConfig",
    "RagError",
    "RagPipeline",
    "StoreError",
    "load_config",
]
