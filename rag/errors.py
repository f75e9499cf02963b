"""The one exception hierarchy of the project.

```
RagError
├── ConfigError                 bad or inconsistent configuration
├── IngestError                 one input file could not be ingested (the batch goes on)
│   ├── UnsupportedFormatError  no parser for this file type
│   ├── CorruptFileError        broken, encrypted or unreadable file
│   ├── EmptyDocumentError      the file holds no text
│   ├── MissingToolError        a system tool (tesseract, LibreOffice, pandoc) is not installed
│   ├── ParseTimeoutError       the parser ran past the per-file time limit
│   ├── ParserMemoryError       the parser ran past the per-process memory limit
│   ├── FileTooLargeError       the file is over the size limit
│   └── UnsafeFileError         refused unparsed: built to harm a parser (bombs, XXE)
├── StoreError                  the index cannot be opened or written
│   ├── IndexLockedError        another process is writing this index
│   └── IndexMismatchError      the index was built with another model or chunker
├── KnowledgeBaseNotFoundError  no knowledge base of that name in the data dir
├── EmptyIndexError             a question was asked of an index with no documents
├── InvalidRequestError         a request is malformed (an empty question, top_k 0, ...)
├── ModelUnavailableError       a model cannot be found or loaded
└── GenerationError             the generation backend failed
    └── ModelUnreachableError   the model server did not answer (timeouts, breaker open)
```

Every message says what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "ConfigError",
    "CorruptFileError",
    "DatabaseUnavailableError",
    "EmptyDocumentError",
    "EmptyIndexError",
    "FileTooLargeError",
    "GenerationError",
    "IndexLockedError",
    "IndexMismatchError",
    "IngestError",
    "InvalidRequestError",
    "KnowledgeBaseNotFoundError",
    "MissingToolError",
    "ModelUnavailableError",
    "ModelUnreachableError",
    "ParseTimeoutError",
    "ParserMemoryError",
    "RagError",
    "StoreError",
    "UnsafeFileError",
    "UnsupportedFormatError",
    "source_context",
]


class RagError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(RagError):
    """The configuration is invalid; the message names the key and the accepted values."""


class IngestError(RagError):
    """One input could not be ingested. `source` names the file or document it concerns;
    `code` is the kind of failure, stable for clients (the web page words it in the reader's
    language)."""

    code = "ingest_failed"

    def __init_subclass__(cls, code: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source

    def __str__(self) -> str:
        message = super().__str__()
        return f"{self.source}: {message}" if self.source else message


class UnsupportedFormatError(IngestError, code="unsupported_format"):
    """No parser handles this file type."""


class CorruptFileError(IngestError, code="corrupt_file"):
    """The file is malformed, encrypted or cannot be decoded."""


class EmptyDocumentError(IngestError, code="empty_document"):
    """The file parsed but holds no text."""


class MissingToolError(IngestError, code="missing_tool"):
    """A system tool needed for this format is not installed."""


class ParseTimeoutError(IngestError, code="parse_timeout"):
    """The parser ran past the configured per-file time limit."""


class ParserMemoryError(IngestError, code="parser_memory"):
    """The parser needed more memory than `parser.max_memory_mb` allows."""


class FileTooLargeError(IngestError, code="too_large"):
    """The file is over `parser.max_file_mb` (or the service's `api.max_file_mb`)."""


class UnsafeFileError(IngestError, code="unsafe_file"):
    """The file was refused before parsing: entity declarations (XXE, billion laughs), an
    archive or Office file that unpacks past the limits, names that escape a folder."""


class StoreError(RagError):
    """The vector index cannot be opened, read or written."""


class IndexLockedError(StoreError):
    """Another process holds the index's write lock."""


class DatabaseUnavailableError(StoreError):
    """The PostgreSQL of `database.url` does not answer (not started, gone away, refusing);
    the message names it without its password. Retry once it is back."""


class IndexMismatchError(StoreError):
    """The index was built with a different embedding model or chunker."""


class InvalidRequestError(RagError):
    """A request cannot be served as given; the message says which part and why."""


class KnowledgeBaseNotFoundError(RagError):
    """No knowledge base of that name exists in the data dir."""


class EmptyIndexError(RagError):
    """The index holds no documents yet."""


class ModelUnavailableError(RagError):
    """A model cannot be found at its configured path or id."""


class GenerationError(RagError):
    """The generation backend failed or returned something unusable."""


class ModelUnreachableError(GenerationError):
    """The model server did not answer (connection refused, timeout, repeated 429/503, or
    the circuit breaker is open); callers fall back to the extractive answer."""


@contextmanager
def source_context(source: str) -> Iterator[None]:
    """Attach `source` to any `IngestError` raised inside the block that has none yet.

    Example:
        >>> with source_context("docs/a.pdf"):
        ...     raise CorruptFileError("PDF is encrypted")  # doctest: +SKIP
    """
    try:
        yield
    except IngestError as exc:
        if exc.source is None:
            exc.source = source
        raise
