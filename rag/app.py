"""The composition root: every component of one process, built once from one configuration.

`Rag.open(config)` checks the whole configuration, takes the write lock when asked (before
anything slow), loads the embedding model, connects the generation backend and opens the
index. The question pipeline (search, compression, answers) is built on first use. The CLI
commands, ingestion, evaluation, the LangChain retriever and the service all take a `Rag`
(or the pieces it holds) instead of rebuilding them from a config, so a long-lived process
loads its model once.

Example:
    >>> with Rag.open(load_config()) as app:  # doctest: +SKIP
    ...     print(app.pipeline.ask("what does the handbook say about leave?").text)
    >>> with Rag.open(load_config(), write=True) as app:  # doctest: +SKIP
    ...     ingest_paths(app, [Path("docs")])
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from rag.compress import REGISTRY as COMPRESSORS
from rag.compress import create_compressor
from rag.config import RagConfig, derive
from rag.embed import REGISTRY as EMBEDDERS
from rag.embed import Embedder, create_embedder
from rag.embed.cache import CachedEmbedder
from rag.embed.vector_cache import PersistentEmbedder, VectorCache
from rag.errors import ConfigError, InvalidRequestError, KnowledgeBaseNotFoundError
from rag.generate import BACKENDS, ChatBackend, create_backend
from rag.generate.extractive import ExtractiveGenerator
from rag.generate.llm import LLMGenerator
from rag.generate.prompts import PromptSet
from rag.generate.synthesis import SYNTHESES
from rag.generate.tokens import TokenCounter, create_counter
from rag.index import Index, kb_catalog
from rag.locks import WriteLock
from rag.manifest import DEFAULT_KB, read_manifest, write_manifest
from rag.overrides import with_generation
from rag.pipeline import RagPipeline
from rag.registry import check
from rag.rerank import REGISTRY as RERANKERS
from rag.retrieve import REGISTRY as RETRIEVERS
from rag.retrieve import create_search, embedder_languages
from rag.retrieve.federated import FederatedSearch
from rag.stores import REGISTRY as STORES
from rag.summary import SUMMARIZERS, create_summarizer

__all__ = ["Rag", "check_config", "connect_backend"]

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


def check_config(config: RagConfig) -> None:
    """Check every implementation the configuration names against its registry, before
    anything is loaded or written.

    Raises:
        ConfigError: A name is not registered; the message lists the valid ones.
    """
    for key, registry in _NAMED:
        section, field = key.split(".")
        check(registry, key, getattr(getattr(config, section), field))


def connect_backend(config: RagConfig) -> tuple[ChatBackend | None, TokenCounter | None]:
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


class Rag:
    """The embedder, the index, the generation backend and the question pipeline."""

    def __init__(
        self,
        config: RagConfig,
        index: Index,
        embedder: Embedder | None,
        backend: ChatBackend | None = None,
        counter: TokenCounter | None = None,
        *,
        owns_index: bool = True,
        lock: WriteLock | None = None,
        languages: list[str] | None = None,
    ) -> None:
        self.config, self.index = config, index
        self.backend, self.counter = backend, counter
        self._embedder = embedder
        self._owns_index = owns_index
        self._pipeline: RagPipeline | None = None
        self._languages = languages
        self._lock = threading.Lock()
        self._write_lock = lock
        self._kbs: dict[str, Rag] = {config.kb: self}
        self._generators: dict[tuple[str, str], LLMGenerator] = {}
        self._kbs_lock = threading.RLock()
        self._vector_cache: VectorCache | None = None

    @classmethod
    def open(
        cls,
        config: RagConfig,
        *,
        write: bool = False,
        model: bool = True,
        embedder: Embedder | None = None,
        backend: tuple[ChatBackend | None, TokenCounter | None] | None = None,
        create: str | None = None,
        lock: WriteLock | None = None,
    ) -> Rag:
        """Build the components of `config` (of its knowledge base `config.kb`).

        Args:
            config: The configuration.
            write: Open the index for writing too (takes the one-writer lock first).
            model: Load the embedding model. Without it the index opens from its manifest
                alone: counts, deletes and copies, but no search or ingest.
            embedder: An already-loaded embedder to use instead of loading one.
            backend: An already-built (backend, counter) pair to use.
            create: With `write`, create the knowledge base (with this description) when
                it does not exist.
            lock: With `write`, the data dir's write lock, already taken by the caller:
                shared (`WriteLock.share`), so it stays the caller's to release too.

        Raises:
            KnowledgeBaseNotFoundError: `config.kb` does not exist.
            ConfigError: The configuration names an unknown implementation.
            IndexLockedError: `write` and another process is writing.
            IndexMismatchError: The index was built with another model or chunker.
            ModelUnavailableError: The embedding model cannot be loaded.
        """
        check_config(config)
        if write:
            lock = lock.share() if lock else WriteLock(config.data_dir / "write.lock", wait_s=3.0)
        else:
            lock = None
        try:
            chat, counter = backend if backend is not None else connect_backend(config)
            if model and embedder is None:
                embedder = create_embedder(config.embedder)
                embedder.warm_up()
            summarizer = None
            if write and embedder is not None:
                summarizer = create_summarizer(config, embedder, chat, counter)
            index = Index.open(
                config, embedder, write=write, lock=lock, summarizer=summarizer, create=create
            )
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(config, index, embedder, chat, counter, lock=lock)

    def derived(self, config: RagConfig, *, write: bool = False) -> Rag:
        """The components of a derived configuration (an evaluation's own index, other
        search settings), sharing this one's model and backend when the configuration
        names the same ones (else it loads and connects its own); the index too when it is
        the same one and no writer is asked for. Close it when done."""
        same_model = config.embedder == self.config.embedder
        backend = (
            (self.backend, self.counter)
            if config.generator == self.config.generator
            else connect_backend(config)
        )
        same = (config.data_dir, config.store) == (self.config.data_dir, self.config.store)
        if same and not write and same_model:
            return Rag(config, self.index, self._embedder, *backend, owns_index=False)
        return Rag.open(
            config,
            write=write,
            embedder=self.embedder if same_model else None,
            backend=backend,
            create="" if write else None,  # an evaluation's own index: its KB made on use
        )

    @property
    def embedder(self) -> Embedder:
        """The loaded embedding model.

        Raises:
            ConfigError: The components were opened without the model.
        """
        if self._embedder is None:
            raise ConfigError("opened without the embedding model (model=False): cannot embed")
        return self._embedder

    @property
    def ingest_embedder(self) -> PersistentEmbedder:
        """The embedder for one ingestion: passage vectors kept in the data dir's vector
        cache (`embedder.vector_cache_mb`; 0: none), so that no text is embedded twice."""
        embedder, megabytes = self.embedder, self.config.embedder.vector_cache_mb
        prefix = self.config.embedder.document_prefix
        if megabytes == 0:
            return PersistentEmbedder(embedder, None, prefix)
        with self._lock:
            if self._vector_cache is None:
                path = self.config.data_dir / "embeddings.sqlite"
                self._vector_cache = VectorCache(path, megabytes)
            cache = self._vector_cache
        return PersistentEmbedder(embedder, cache, prefix)

    @property
    def languages(self) -> list[str]:
        """The languages the embedder reads (measured once, when needed)."""
        with self._lock:
            if self._languages is None:
                self._languages = embedder_languages(self.config, self.embedder)
            return self._languages

    @property
    def pipeline(self) -> RagPipeline:
        """The question pipeline: search, compression, answers (built on first use)."""
        languages = self.languages
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._build_pipeline(languages)
            return self._pipeline

    def _build_pipeline(self, languages: list[str]) -> RagPipeline:
        config, backend, counter = self.config, self.backend, self.counter
        # Queries asked again and the sentences compression and the extractive answer both
        # embed: each embedded once.
        embedder = CachedEmbedder(self.embedder)
        search = create_search(config, self.index, embedder, languages, backend)
        # Lost-in-the-middle order matters to a model reading the context, not to the
        # extractive answer; the budget leaves room for the prompt and the answer.
        compression = derive(
            config.compression, reorder=config.compression.reorder and backend is not None
        )
        compressor = create_compressor(
            compression, embedder, self.index.analyzer, languages, counter
        )
        extractive = ExtractiveGenerator(config.answer, embedder)
        llm = None if backend is None else _llm(config, backend, counter)
        return RagPipeline(
            (self.index,), search, compressor, extractive, llm, config.retrieval.top_k
        )

    def generator(
        self, backend: str | None = None, model: str | None = None
    ) -> LLMGenerator | None:
        """The answering model for one request: the configured one, or another backend or
        model on the configured server (built on first use, then kept); None for `none`.

        Raises:
            ConfigError: `backend` is not a registered backend.
        """
        config = with_generation(self.config, backend=backend, model=model)
        generator = config.generator
        check(BACKENDS, "generator.backend", generator.backend)
        if generator.backend == "none":
            return None
        if (generator.backend, generator.model) == (
            self.config.generator.backend,
            self.config.generator.model,
        ):
            return self.pipeline.llm
        key = (generator.backend, generator.model)
        with self._lock:
            if key not in self._generators:
                chat, counter = connect_backend(config)
                assert chat is not None
                self._generators[key] = _llm(config, chat, counter)
            return self._generators[key]

    def pipeline_for(self, kbs: Sequence[str]) -> RagPipeline:
        """The question pipeline over several knowledge bases: each one's search, fused
        (`rag.retrieve.federated`), then this one's compression and answers.

        Raises:
            KnowledgeBaseNotFoundError: One of `kbs` does not exist.
        """
        names = tuple(dict.fromkeys(kbs))
        if len(names) == 1:
            return self.kb(names[0]).pipeline
        own = self.pipeline
        parts = {name: self.kb(name) for name in names}
        search = FederatedSearch(
            {name: part.pipeline.search for name, part in parts.items()},
            self.config.retrieval.rrf_k,
        )
        indexes = tuple(part.index for part in parts.values())
        return replace(own, indexes=indexes, search=search)

    # -- knowledge bases ------------------------------------------------------------------

    def kbs(self) -> dict[str, dict[str, str]]:
        """The knowledge bases in the data dir: name -> description and creation time."""
        manifest = read_manifest(self.config.data_dir)
        return dict(manifest.kbs) if manifest else {DEFAULT_KB: {"description": ""}}

    def kb(self, name: str, *, create: str | None = None) -> Rag:
        """The components of knowledge base `name`, sharing this one's model, backend and
        write lock (opened once, then kept until `close`). With `create` (a description)
        and a writer, the knowledge base is created when it does not exist.

        Raises:
            KnowledgeBaseNotFoundError: There is no knowledge base `name`.
            ConfigError: `name` is not a valid knowledge base name.
        """
        languages = self.languages if self._embedder is not None else None
        with self._kbs_lock:
            if name in self._kbs:
                return self._kbs[name]
            config = derive(self.config, kb=name)
            lock = self._write_lock.share() if self._write_lock is not None else None
            try:
                summarizer = None
                if lock is not None and self._embedder is not None:
                    summarizer = create_summarizer(
                        config, self._embedder, self.backend, self.counter
                    )
                index = Index.open(
                    config,
                    self._embedder,
                    write=lock is not None,
                    lock=lock,
                    summarizer=summarizer,
                    create=create,
                )
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
            child = Rag(
                config, index, self._embedder, self.backend, self.counter, languages=languages
            )
            self._kbs[name] = child
            return child

    def drop_kb(self, name: str) -> None:
        """Delete knowledge base `name`: its collections, its catalog, its manifest entry.

        Raises:
            InvalidRequestError: `name` is `default` (it always exists) or this one.
            KnowledgeBaseNotFoundError: There is no knowledge base `name`.
            ConfigError: Opened for reading only.
        """
        if name in (DEFAULT_KB, self.config.kb):
            raise InvalidRequestError(
                f"knowledge base {name!r} cannot be deleted while it is the one opened "
                "(`default` always exists); delete its documents instead"
            )
        self.index.require_writer()
        with self._kbs_lock:
            child = self.kb(name)
            child.index.drop()
            del self._kbs[name]
            shutil.rmtree(kb_catalog(self.config.data_dir, name).parent, ignore_errors=True)
            manifest = read_manifest(self.config.data_dir)
            if manifest is None or name not in manifest.kbs:
                raise KnowledgeBaseNotFoundError(f"no knowledge base {name!r}")
            write_manifest(self.config.data_dir, manifest.without_kb(name))

    def close(self) -> None:
        """Close the index (unless it is shared with the components this came from), and
        those of the other knowledge bases opened through `kb`."""
        with self._kbs_lock:
            for child in list(self._kbs.values()):
                if child is not self:
                    child.close()
            self._kbs = {self.config.kb: self}
        if self._owns_index:
            self.index.close()
        with self._lock:
            if self._vector_cache is not None:
                self._vector_cache.close()
                self._vector_cache = None

    def __enter__(self) -> Rag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
