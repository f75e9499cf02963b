"""RAG framework core: configuration, index, retrieval and answers.

Example:
    >>> from rag import Runtime, load_config
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     print(runtime.kb().pipeline.ask("what does the handbook say about leave?").text)
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
from rag.knowledge_base import KnowledgeBase
from rag.pipeline import RagPipeline
from rag.runtime import Runtime
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
    "KnowledgeBase",
    "ModelUnavailableError",
    "RagConfig",
    "RagError",
    "RagPipeline",
    "Runtime",
    "StoreError",
    "load_config",
]
