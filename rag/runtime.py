"""The composition root: what one process holds once, built from one configuration.

`Runtime.open(config)` checks the whole configuration, takes the data dir's write lock when
asked (before anything slow), loads the embedding model and connects the generation
backend. Knowledge bases are opened through `runtime.kb(name)` (the only opener), which
shares those with each of them, with the write lock and with the one vector cache; a
long-lived process loads its model once.

Example:
    >>> with Runtime.open(load_config()) as runtime:  # doctest: +SKIP
    ...     print(runtime.kb().pipeline.ask("what does the handbook say about leave?").text)
    >>> with Runtime.open(load_config(), write=True) as runtime:  # doctest: +SKIP
    ...     ingest_paths(runtime.kb(create=""), [Path("docs")])
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from rag.compress import REGISTRY as COMPRESSORS
from rag.config import RagConfig, derive
from rag.embed import REGISTRY as EMBEDDERS
from rag.embed import Embedder, create_embedder
from rag.embed.vector_cache import PersistentEmbedder
from rag.errors import ConfigError, InvalidRequestError, KnowledgeBaseNotFoundError
from rag.generate import BACKENDS, ChatBackend, create_backend
from rag.generate.llm import LLMGenerator
from rag.generate.prompts import PromptSet
from rag.generate.synthesis import SYNTHESES
from rag.generate.tokens import TokenCounter, create_counter
from rag.index import Index
from rag.knowledge_base import KnowledgeBase
from rag.locks import SharedWrites, WriteLock, WriterLock
from rag.manifest import DEFAULT_KB
from rag.overrides import with_generation
from rag.pipeline import RagPipeline
from rag.registry import check
from rag.rerank import REGISTRY as RERANKERS
from rag.retrieve import REGISTRY as RETRIEVERS
from rag.retrieve import embedder_languages
from rag.retrieve.federated import FederatedSearch
from rag.state import BACKENDS as STATES
from rag.state import open_state
from rag.state.base import StateBackend, VectorCache
from rag.stores import REGISTRY as STORES
from rag.summary import SUMMARIZERS, create_summarizer

__all__ = ["Runtime", "check_config", "connect_backend", "shared_writes"]

_NAMED: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("embedder.backend", EMBEDDERS),
    ("store.backend", STORES),
    ("retrieval.mode", RETRIEVERS),
    ("reranker.backend", RERANKERS),
    ("compression.method", COMPRESSORS),
    ("summary.method", SUMMARIZERS),
    ("generator.backend", BACKENDS),
    ("generator.synthesis", SYNTHESES),
)

Backend = tuple[ChatBackend | None, TokenCounter | None]


def check_config(config: RagConfig) -> None:
    """Check every implementation the configuration names against its registry, before
    anything is loaded or written.

    Raises:
        ConfigError: A name is not registered; the message lists the valid ones.
    """
    for key, registry in _NAMED:
        section, field = key.split(".")
        check(registry, key, getattr(getattr(config, section), field))
    check(STATES, "state.backend", config.state_backend)


def shared_writes(config: RagConfig) -> bool:
    """Whether many processes may write at once: the state is in PostgreSQL and the vectors
    in a server (pgvector, a Milvus or Chroma server), so nothing is written locally."""
    store = config.store
    served = store.backend == "pgvector" or store.uri.startswith(("http://", "https://"))
    return config.state_backend == "postgres" and served


def _write_lock(config: RagConfig) -> WriterLock:
    if shared_writes(config):
        return SharedWrites()
    return WriteLock(config.data_dir / "write.lock", 3.0)


def connect_backend(config: RagConfig) -> Backend:
    """The generation backend and the prompt token counter (None, None without a model).
    Cheap: nothing connects until the first request."""
    if config.generator.backend == "none":
        return None, None
    counter = create_counter(config.generator.tokenizer)
    return create_backend(config.generator, counter), counter


def _llm(config: RagConfig, backend: ChatBackend, counter: TokenCounter | None) -> LLMGenerator:
    generator = config.generator
    return LLMGenerator(
        backend,
        PromptSet.load(generator.prompt_dir),
        generator.params,
        config.language,
        generator.synthesis,
        counter,
        generator.context_window,
        generator.parallel_requests,
    )


class Runtime:
    """One process's model, generation backend, write lock, vector cache and knowledge
    bases. Open with `Runtime.open`; close when done (it closes its knowledge bases)."""

    def __init__(
        self,
        config: RagConfig,
        embedder: Embedder | None,
        backend: Backend = (None, None),
        lock: WriterLock | None = None,
        state: StateBackend | None = None,
    ) -> None:
        self.config = config
        self.state = state or open_state(config)
        self.backend, self.counter = backend
        self._embedder = embedder
        self._lock = lock
        self._languages: list[str] | None = None
        self._vector_cache: VectorCache | None = None
        self._kbs: dict[str, KnowledgeBase] = {}
        self._generators: dict[tuple[str, str], LLMGenerator | None] = {}
        self._guard = threading.RLock()

    @classmethod
    def open(
        cls,
        config: RagConfig,
        *,
        write: bool = False,
        model: bool = True,
        embedder: Embedder | None = None,
        backend: Backend | None = None,
        lock: WriterLock | None = None,
    ) -> Runtime:
        """Build what the process holds for `config`.

        Args:
            config: The configuration.
            write: Take the data dir's one-writer lock: knowledge bases open for writing.
            model: Load the embedding model. Without it knowledge bases open from their
                manifest alone: counts, deletes and copies, but no search or ingest.
            embedder: An already-loaded embedder to use instead of loading one.
            backend: An already-built (backend, counter) pair to use.
            lock: With `write`, the data dir's write lock, already taken by the caller:
                shared (`WriteLock.share`), so it stays the caller's to release too.

        Raises:
            ConfigError: The configuration names an unknown implementation.
            IndexLockedError: `write` and another process is writing.
            ModelUnavailableError: The embedding model cannot be loaded.
        """
        check_config(config)
        state = open_state(config)  # first: an unreachable database fails before the model loads
        held: WriterLock | None = None
        try:
            if write:
                held = lock.share() if lock else _write_lock(config)
            if model and embedder is None:
                embedder = create_embedder(config.embedder)
                embedder.warm_up()
            return cls(config, embedder, backend or connect_backend(config), held, state)
        except BaseException:
            if held is not None:
                held.release()
            state.close()
            raise

    def derived(self, config: RagConfig, *, write: bool = False) -> Runtime:
        """A runtime for a derived configuration (an evaluation's own data dir, other
        settings), sharing this one's model and backend where the configuration names the
        same ones (else it loads and connects its own). Close it when done."""
        same_model = config.embedder == self.config.embedder
        same_backend = config.generator == self.config.generator
        return Runtime.open(
            config,
            write=write,
            embedder=self._embedder if same_model else None,
            backend=(self.backend, self.counter) if same_backend else None,
        )

    @property
    def writable(self) -> bool:
        """Whether this process holds the data dir's write lock."""
        return self._lock is not None

    def require_writer(self) -> None:
        """Raises:
        ConfigError: The runtime was opened for reading only."""
        if self._lock is None:
            raise ConfigError(
                f"the index in {self.config.data_dir} was opened for reading; open it with "
                "write=True"
            )

    @property
    def embedder(self) -> Embedder:
        """The loaded embedding model.

        Raises:
            ConfigError: The runtime was opened without the model.
        """
        if self._embedder is None:
            raise ConfigError("opened without the embedding model (model=False): cannot embed")
        return self._embedder

    @property
    def ingest_embedder(self) -> PersistentEmbedder:
        """The embedder for ingestion: passage vectors kept in the data dir's one vector
        cache (`embedder.vector_cache_mb`; 0: none), so that no text is embedded twice."""
        embedder, megabytes = self.embedder, self.config.embedder.vector_cache_mb
        prefix = self.config.embedder.document_prefix
        if megabytes == 0:
            return PersistentEmbedder(embedder, None, prefix)
        with self._guard:
            if self._vector_cache is None:
                self._vector_cache = self.state.vector_cache(megabytes)
            return PersistentEmbedder(embedder, self._vector_cache, prefix)

    @property
    def languages(self) -> list[str]:
        """The languages the embedder reads (measured once, when needed)."""
        with self._guard:
            if self._languages is None:
                self._languages = embedder_languages(self.config, self.embedder)
            return self._languages

    def generator(
        self, backend: str | None = None, model: str | None = None
    ) -> LLMGenerator | None:
        """The answering model: the configured one, or another backend or model on the
        configured server (built on first use, then kept); None for `none`.

        Raises:
            ConfigError: `backend` is not a registered backend.
        """
        config = with_generation(self.config, backend=backend, model=model)
        settings = config.generator
        check(BACKENDS, "generator.backend", settings.backend)
        key = (settings.backend, settings.model)
        with self._guard:
            if key not in self._generators:
                configured = (self.config.generator.backend, self.config.generator.model)
                chat, counter = (
                    (self.backend, self.counter) if key == configured else connect_backend(config)
                )
                self._generators[key] = None if chat is None else _llm(config, chat, counter)
            return self._generators[key]

    # -- knowledge bases ------------------------------------------------------------------

    def kbs(self) -> dict[str, dict[str, str]]:
        """The knowledge bases in the data dir: name -> description and creation time."""
        manifest = self.state.registry().read()
        return dict(manifest.kbs) if manifest else {DEFAULT_KB: {"description": ""}}

    def kb(self, name: str | None = None, *, create: str | None = None) -> KnowledgeBase:
        """Knowledge base `name` (the configured `kb` when None), opened once and kept until
        `close`: for writing when this runtime holds the write lock. With `create` (a
        description) and the write lock, it is created when it does not exist.

        Raises:
            KnowledgeBaseNotFoundError: There is no knowledge base `name`.
            ConfigError: `name` is not a valid knowledge base name.
            IndexMismatchError: The index was built with another model or chunker.
        """
        name = self.config.kb if name is None else name
        with self._guard:
            if name in self._kbs:
                return self._kbs[name]
            config = derive(self.config, kb=name)
            lock = self._lock.share() if self._lock is not None else None
            try:
                summarizer = None
                if lock is not None and self._embedder is not None:
                    summarizer = create_summarizer(
                        config, self._embedder, self.backend, self.counter
                    )
                index = Index.open(
                    config,
                    self._embedder,
                    self.state,
                    lock=lock,
                    summarizer=summarizer,
                    create=create,
                )
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
            self._kbs[name] = KnowledgeBase(self, config, index)
            return self._kbs[name]

    def pipeline_for(self, kbs: Sequence[str]) -> RagPipeline:
        """The question pipeline over several knowledge bases: each one's search, fused
        (`rag.retrieve.federated`), then the configured knowledge base's compression and
        answers.

        Raises:
            KnowledgeBaseNotFoundError: One of `kbs` does not exist.
        """
        names = tuple(dict.fromkeys(kbs))
        if len(names) == 1:
            return self.kb(names[0]).pipeline
        parts = {name: self.kb(name) for name in names}
        search = FederatedSearch(
            {name: part.pipeline.search for name, part in parts.items()},
            self.config.retrieval.rrf_k,
        )
        indexes = tuple(part.index for part in parts.values())
        return replace(self.kb().pipeline, indexes=indexes, search=search)

    def drop_kb(self, name: str) -> None:
        """Delete knowledge base `name`: its collections, its catalog, its manifest entry.

        Raises:
            InvalidRequestError: `name` is `default` (it always exists) or the configured one.
            KnowledgeBaseNotFoundError: There is no knowledge base `name`.
            ConfigError: Opened for reading only.
        """
        if name in (DEFAULT_KB, self.config.kb):
            raise InvalidRequestError(
                f"knowledge base {name!r} cannot be deleted while it is the one opened "
                "(`default` always exists); delete its documents instead"
            )
        self.require_writer()
        with self._guard:
            target = self.kb(name)
            target.index.drop()
            target.close()
            del self._kbs[name]
            self.state.drop_catalog(name)
            if not self.state.registry().drop_kb(name):
                raise KnowledgeBaseNotFoundError(f"no knowledge base {name!r}")

    def close(self) -> None:
        """Close every knowledge base opened through `kb`, the vector cache, and release
        the write lock."""
        with self._guard:
            for kb in self._kbs.values():
                kb.close()
            self._kbs = {}
            if self._vector_cache is not None:
                self._vector_cache.close()
                self._vector_cache = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            self.state.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
