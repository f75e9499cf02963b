"""RAG framework core: configuration, index, retrieval and answers.

Example:
    >>> from rag import Rag, load_config
    >>> with Rag.open(load_config()) as app:  # doctest: +SKIP
    ...     print(app.pipeline.ask("what does the handbook say about leave?").text)
"""

from rag.app import Rag
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
    "Rag",
    "RagConfig",
    "RagError",
    "RagPipeline",
    "StoreError",
    "load_config",
]
