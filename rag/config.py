"""The one configuration tree: `rag.toml` plus `RAG_`-prefixed environment variables.

Priority, highest first: environment (`RAG_EMBEDDER__BATCH_SIZE=32`, `__` for nesting), the
TOML file, the defaults below. The defaults are the embedded setup: bundled MiniLM embedder,
Chroma in `./.rag/`, no server, no GPU, no API key.

Only `load_config` reads files or the environment; everything else receives a sub-model.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from rag.errors import ConfigError

__all__ = [
    "KB_NAME",
    "ApiConfig",
    "ApiKey",
    "AnswerConfig",
    "ChunkerConfig",
    "CompressionConfig",
    "ConfidenceConfig",
    "DatabaseConfig",
    "EmbedderConfig",
    "GenerationParams",
    "GeneratorConfig",
    "LexicalConfig",
    "LogisticModel",
    "ParserConfig",
    "RagConfig",
    "RerankerConfig",
    "RetrievalConfig",
    "RewriteConfig",
    "StateConfig",
    "StoreConfig",
    "SummaryConfig",
    "derive",
    "load_config",
    "relocated",
    "unknown_variables",
]


# RAG_ variables that are not settings: the config file's name, the tests' data folder, the
# key `rag ingest --server` sends.
_SECRETS = frozenset({"keys", "key", "api_key", "token", "url"})  # values never echoed in errors
_NOT_SETTINGS = frozenset({"RAG_CONFIG", "RAG_TEST_DATA", "RAG_API_KEY"})

_FROZEN = ConfigDict(frozen=True, extra="forbid")

M = TypeVar("M", bound=BaseModel)


def derive(model: M, /, **updates: Any) -> M:
    """A copy of a config with `updates` applied and validated (pydantic's `model_copy`
    does not validate). Nested sections may be given as models or as dicts of their fields,
    which are merged into the current section.

    Raises:
        ConfigError: An updated value is invalid; the message names it.

    Example:
        >>> derive(RetrievalConfig(), top_k=8).top_k
        8
    """
    data = model.model_dump()
    for key, value in updates.items():
        current = getattr(model, key, None)
        if isinstance(value, dict) and isinstance(current, BaseModel):
            value = {**current.model_dump(), **value}
        data[key] = value
    try:
        if isinstance(model, BaseSettings):
            # A settings model reads the environment again when validated: validate with
            # the given values only, then keep the original class.
            validated = _without_sources(type(model))(**data)
            derived: M = type(model).model_construct(**dict(validated))  # type: ignore[assignment]
            return derived
        return type(model).model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from exc


@functools.cache
def _without_sources(cls: type[BaseSettings]) -> type[BaseSettings]:
    """A subclass of `cls` that takes its values from its arguments alone."""

    class Given(cls):  # type: ignore[valid-type, misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return Given


def _problems(exc: ValidationError, root: type[BaseModel] | None = None) -> str:
    """One line per invalid value: where, what was given, what is accepted; an unknown
    name with the closest known one (`root`: the model the locations start from)."""
    lines = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        where = ".".join(loc) or "value"
        if error["type"] == "extra_forbidden":
            known = _fields_at(root or RagConfig, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.5)
            hint = f"; did you mean {'.'.join([*loc[:-1], close[0]])}?" if close else ""
            lines.append(f"unknown setting {where}{hint}")
            continue
        given = "(hidden)" if _SECRETS & set(loc) else repr(error.get("input"))
        lines.append(f"{where} = {given}: {error['msg']}")
    return "invalid setting: " + "; ".join(lines)


def _fields_at(model: type[BaseModel], path: list[str]) -> list[str]:
    """The field names of the section at `path` (empty when it is no section)."""
    for name in path:
        field = model.model_fields.get(name)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


class ServerCalls(BaseModel):
    """How a model server is called (the generator's, or the embedder's openai and ollama
    backends): where, with which key, how long to wait, how often to try again."""

    model_config = _FROZEN
    base_url: str = Field(
        "", description="e.g. http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:11434 (Ollama)"
    )
    api_key: SecretStr = Field(SecretStr(""), description="Sent as a bearer token when set.")
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0, description="Longest wait for the next bytes.")
    retries: int = Field(2, ge=0, description="On connection errors, 429 and 503.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each time.")
    breaker_failures: int = Field(
        3, gt=0, description="Failed calls in a row that open the circuit breaker."
    )
    breaker_reset_s: float = Field(30.0, gt=0, description="How long the breaker stays open.")


_QUANTIZABLE = ("onnx", "openvino")  # embedder backends that run the model in int8


class EmbedderConfig(ServerCalls):
    """Which model embeds chunks and queries, and what runs it."""

    model_config = _FROZEN
    backend: str = Field(
        "openvino",
        description="What runs the model: openvino (OpenVINO on a copy converted once from "
        "the same weights, int8 calibrated at conversion; the default), onnx (ONNX Runtime "
        "on a copy exported once; no torch at run time either), sentence_transformers "
        "(torch), or a server: "
        "openai (any OpenAI-compatible /v1/embeddings at base_url) or ollama (its embed call).",
    )
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Model name (recorded in the manifest); also a hub id when `path` is unset "
        "and the name is not the bundled default.",
    )
    path: str | None = Field(None, description="Local model directory; overrides `model`.")
    batch_size: int = Field(64, gt=0)
    device: str = "cpu"
    query_prefix: str = ""
    document_prefix: str = ""
    languages: list[str] | None = Field(
        None,
        description="Languages the model reads (en, zh); unset: measured by a probe at load "
        "(rag.embed.languages). Questions in other languages are searched with BM25 alone.",
    )
    quantize: Literal["none", "int8"] | None = Field(
        None,
        description="onnx, openvino backends: int8 runs the model's matrix products in int8 "
        "(onnx: activations' ranges per batch; openvino: calibrated once, the rest in bfloat16 "
        "where the CPU has it); none: fp32. Unset: int8 on onnx and openvino, none elsewhere. "
        "Speed and quality of each: README, Performance.",
    )
    threads: int = Field(
        0,
        ge=0,
        description="onnx, openvino backends: threads per model call; 0: the cores this "
        "process may use.",
    )
    vector_cache_mb: int = Field(
        1024,
        ge=0,
        description="Passage vectors kept in <data_dir>/embeddings.sqlite by model and text, "
        "so that unchanged text is never embedded twice (re-ingest, repeated passages, other "
        "knowledge bases); least recently used past this size; 0: off. 1 GB holds ~600k "
        "vectors of 384 dimensions.",
    )
    parallel_requests: int = Field(
        2, gt=0, description="openai, ollama: requests of batch_size texts sent at once."
    )
    max_input_tokens: int = Field(
        512, gt=8, description="openai, ollama: the served model's input length, in tokens."
    )
    tokenizer: str | None = Field(
        None,
        description="openai, ollama: folder with the served model's tokenizer.json, for exact "
        "chunk sizes; unset: a safe estimate (one token per CJK character, digit or mark, "
        "one per 3 letters).",
    )
    cache_dir: str | None = Field(
        None,
        description="onnx, openvino backends: where exported models are kept (keyed by the "
        "model's hash); "
        "unset: $XDG_CACHE_HOME/rag-framework/onnx (~/.cache/rag-framework/onnx).",
    )

    @property
    def precision(self) -> str:
        """What `quantize` means for this backend: int8 or none."""
        return self.quantize or ("int8" if self.backend in _QUANTIZABLE else "none")

    @model_validator(mode="after")
    def _quantize_needs_an_exported_model(self) -> EmbedderConfig:
        if self.quantize == "int8" and self.backend not in _QUANTIZABLE:
            raise ValueError(
                "quantize applies to the onnx and openvino backends only; set backend = "
                "'openvino' or quantize "
                f"= 'none'. Currently, backend is {self.backend!r} and quantize is "
                f"{self.quantize!r}"
            )
        return self


class ChunkerConfig(BaseModel):
    """Chunk size and overlap, counted in the embedding model's own tokens."""

    model_config = _FROZEN
    chunk_tokens: int = Field(200, gt=16)
    overlap_tokens: int = Field(32, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkerConfig:
        if self.overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                "overlap_tokens must be smaller than chunk_tokens. Currently, overlap_tokens is "
                f"{self.overlap_tokens} and chunk_tokens is {self.chunk_tokens}"
            )
        return self


class ParserConfig(BaseModel):
    """How files are parsed: isolation, limits, OCR."""

    model_config = _FROZEN
    loader: str = "unstructured"
    timeout_s: float = Field(300.0, gt=0, description="Per-file parse time limit, seconds.")
    workers: int = Field(2, ge=1, description="Parser processes running side by side.")
    max_file_mb: float = Field(
        200.0, gt=0, description="Largest file (and archive member, unpacked), MB."
    )
    max_memory_mb: int = Field(
        4096,
        ge=0,
        description="Address space of one parser process (RLIMIT_AS), MB; 0: no limit. A "
        "warmed-up parser takes about 2000.",
    )
    ocr_languages: list[str] = Field(default_factory=lambda: ["eng", "chi_sim"])
    zip_max_members: int = Field(1000, gt=0, description="Files in one archive, nested included.")
    zip_max_total_mb: float = Field(
        500.0,
        gt=0,
        description="What one archive (nested ones included) or one Office file may unpack to.",
    )
    zip_max_depth: int = Field(3, ge=1, description="Archives inside archives, levels.")


class StoreConfig(BaseModel):
    """Which vector store holds the index."""

    model_config = _FROZEN
    backend: str = Field(
        "chroma",
        description="chroma, milvus, or pgvector (the vectors in database.url's PostgreSQL).",
    )
    collection: str = "chunks"
    uri: str = Field(
        "",
        description="chroma: empty (embedded, in data_dir) or http://host:port of `chroma run`; "
        "milvus: empty (Milvus Lite at data_dir/milvus.db), a .db path (Milvus Lite), or "
        "http://host:19530 (Milvus standalone or distributed).",
    )
    token: SecretStr = Field(
        SecretStr(""), description="Server auth: Milvus `user:password` or API token."
    )
    timeout_s: float = Field(30.0, gt=0, description="Server calls: longest wait.")


class StateConfig(BaseModel):
    """Where the state several processes may share is kept: catalog, BM25 postings,
    manifest, jobs, vector cache, uploads waiting for their job (`rag.state`)."""

    model_config = _FROZEN
    backend: str = Field(
        "",
        description="embedded: files and SQLite in data_dir, no server; postgres: the "
        "database at database.url. Empty: postgres when database.url is set, else embedded.",
    )


class DatabaseConfig(BaseModel):
    """The PostgreSQL that holds the shared state (and, with store.backend = pgvector, the
    vectors) when several processes or machines serve one index."""

    model_config = _FROZEN
    url: SecretStr = Field(
        SecretStr(""),
        description="postgresql://user:password@host:5432/dbname; empty: no database (the "
        "embedded default).",
    )
    namespace: str = Field(
        "rag",
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="The schema the tables live in: one per deployment sharing a database.",
    )
    pool_size: int = Field(
        16, ge=1, le=200, description="Connections each process opens at most (on demand)."
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for the database at start."
    )
    bm25_pack_at: int = Field(
        200_000,
        ge=1,
        description="BM25 postings a knowledge base keeps as rows (cheap to write) before "
        "they are packed into one array per term (fast to search); 1: pack at every write.",
    )


class LexicalConfig(BaseModel):
    """The BM25 index: how text becomes terms, and the scoring constants."""

    model_config = _FROZEN
    lowercase: bool = True
    stopwords: list[str] = Field(
        default_factory=lambda: ["en", "zh"], description="Built-in stop-word lists to apply."
    )
    stemmer: str = Field("english", description="Snowball language for non-CJK words, or none.")
    chinese: Literal["jieba_search", "jieba", "chars"] = "jieba_search"
    traditional: Literal["simplify", "keep"] = Field(
        "simplify",
        description="simplify: Traditional Chinese characters are indexed and searched as "
        "Simplified (OpenCC t2s), so either script finds both; keep: as written. An index "
        "built before this setting existed keeps its terms as built (keep).",
    )
    k1: float = Field(1.5, ge=0)
    b: float = Field(0.75, ge=0, le=1)
    idf: Literal["okapi", "lucene"] = Field(
        "lucene",
        description="lucene: log(1 + (N - df + 0.5) / (df + 0.5)), never negative (a term in "
        "half of a small corpus still counts); okapi: rank-bm25's BM25Okapi idf, negative "
        "idf floored at epsilon x mean idf.",
    )
    epsilon: float = Field(0.25, ge=0)

    def analysis(self) -> dict[str, Any]:
        """The settings that decide the indexed terms (the rest only change scoring)."""
        return self.model_dump(
            include={"lowercase", "stopwords", "stemmer", "chinese", "traditional"}
        )


class SummaryConfig(BaseModel):
    """Document summaries of the two-level index."""

    model_config = _FROZEN
    method: str = Field(
        "extractive", description="extractive, or llm (written by the [generator] model)."
    )
    max_chars: int = Field(800, gt=0, description="Length of the extractive summary text.")
    llm_input_chars: int = Field(
        6000, gt=0, description="llm: leading characters of the document the model reads."
    )
    llm_max_tokens: int = Field(200, gt=0, description="llm: summary length in tokens.")
    timeout_s: float = Field(60.0, gt=0, description="llm: per summary; then extractive.")


class LogisticModel(BaseModel):
    """P(relevant) = 1 / (1 + exp(-(bias + sum of weight x feature)))."""

    model_config = _FROZEN
    bias: float
    weights: dict[str, float]


class ConfidenceConfig(BaseModel):
    """The calibrated confidence of a hit (`rag.retrieve.confidence`): fitted by
    `python -m eval.calibrate` for the bundled all-MiniLM-L6-v2; refit for another model."""

    model_config = _FROZEN
    embedder: str = Field(
        "all-MiniLM-L6-v2",
        description="The embedding model `dense` was fitted for (its name as the manifest "
        "records it); with another model its cosines mean something else, so every "
        "question uses `lexical` until `dense` is refitted and this set to its name.",
    )
    dense: LogisticModel = Field(
        default_factory=lambda: LogisticModel(bias=-6.918, weights={"dense": 6.254, "bm25": 7.478}),
        description="For a question the embedder reads: cosine and BM25 share.",
    )
    lexical: LogisticModel = Field(
        default_factory=lambda: LogisticModel(bias=-6.274, weights={"bm25": 25.264}),
        description="For a question it cannot read: the BM25 share alone.",
    )


class RetrievalConfig(BaseModel):
    """How chunks are found: which searches, how many candidates, how results are fused."""

    model_config = _FROZEN
    top_k: int = Field(5, gt=0, description="Chunks returned to the answer step.")
    mode: str = Field(
        "hybrid",
        description="hybrid, two_level, dense, bm25, or native_hybrid (Milvus: dense + BM25 "
        "fused by RRF in the store, one request).",
    )
    candidates: int = Field(100, gt=0, description="Chunks each search returns for fusion.")
    fusion: Literal["minmax", "zscore", "rrf"] = Field(
        "minmax", description="Normalised weighted scores (minmax, zscore) or reciprocal ranks."
    )
    rrf_k: float = Field(60.0, ge=0)
    dense_weight: float = Field(0.5, ge=0)
    bm25_weight: float = Field(0.5, ge=0)
    min_score: float = Field(
        0.07,
        ge=0,
        le=1,
        description="Hits whose calibrated confidence is below this are not context: when "
        "none clears it the answer says the documents do not answer the question "
        "(no_context true, no citation). 0 keeps every hit. 0.07: on our five development "
        "sets 91% of off-topic questions abstain and 97% of on-topic ones are answered "
        "(README).",
    )
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig)
    hops: int = Field(
        1,
        ge=1,
        le=3,
        description="2: multi-hop, a second search per best document of the first (the "
        "question with that document's passage), fused with the first; costs hop_docs "
        "more searches per question. With a [generator] model, the model writes one "
        "follow-up query from the question and those passages instead (IRCoT-style).",
    )
    hop_docs: int = Field(3, gt=0, description="hops > 1: documents that seed a follow-up.")
    feedback_docs: int = Field(
        5,
        ge=0,
        description="Pseudo-relevance feedback (Rocchio) for dense search: the query vector "
        "is moved toward the best chunks of this many documents of the first fused ranking "
        "and searched again; 0 turns it off (one dense search less per question).",
    )
    feedback_weight: float = Field(
        0.5, ge=0, description="Rocchio: weight of the feedback documents' mean vector."
    )
    summary_docs: int = Field(
        20, gt=0, description="two_level: documents chosen by their summaries (step 1)."
    )
    global_weight: float = Field(
        0.5, ge=0, le=1, description="two_level: weight of the global chunk search."
    )


class RewriteConfig(BaseModel):
    """Query rewriting through the generation model (ignored while no model is configured)."""

    model_config = _FROZEN
    strategies: list[Literal["multi_query", "hyde", "step_back", "condense"]] = Field(
        default_factory=list, description="Empty: search the question as asked."
    )
    n_queries: int = Field(3, gt=0, description="multi_query: rephrasings asked for.")
    history_turns: int = Field(4, ge=0, description="condense: earlier turns shown.")
    max_tokens: int = Field(200, gt=0)
    timeout_s: float = Field(
        10.0, gt=0, description="Per rewriting call; then the question as asked."
    )


class RerankerConfig(BaseModel):
    """An optional cross-encoder that re-scores the best retrieved chunks."""

    model_config = _FROZEN
    backend: str = Field("none", description="none or cross_encoder.")
    model: str = Field(
        "", description="Model id in the local Hugging Face cache, e.g. BAAI/bge-reranker-v2-m3."
    )
    path: str | None = Field(None, description="Local model directory; overrides `model`.")
    candidates: int = Field(30, gt=0, description="Best retrieved chunks that are re-scored.")
    batch_size: int = Field(16, gt=0)
    max_length: int = Field(512, gt=8, description="Tokens per (query, chunk) pair.")
    device: str = "cpu"


class CompressionConfig(BaseModel):
    """Turning the retrieved chunks into the context: the sentences that matter, in an order
    the model reads well, within a token budget."""

    model_config = _FROZEN
    method: str = Field("sentences", description="sentences or none.")
    min_similarity: float = Field(
        0.3, ge=-1.0, le=1.0, description="Cosine a sentence needs to stay (dense scoring)."
    )
    min_overlap: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of the question's terms a sentence needs to stay, when the "
        "embedder cannot read the question's language.",
    )
    neighbours: int = Field(1, ge=0, description="Sentences kept on each side of a kept one.")
    budget_tokens: int = Field(1500, gt=0, description="Tokens of context at most.")
    reorder: bool = Field(
        True, description="Lost-in-the-middle order: best first, second best last."
    )


class AnswerConfig(BaseModel):
    """The extractive answer: how many sentences, and how close to the question they must be."""

    model_config = _FROZEN
    max_sentences: int = Field(4, gt=0)
    min_similarity: float = Field(
        0.2, ge=-1.0, le=1.0, description="Cosine, where the embedder reads both languages."
    )
    min_overlap: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of the question's terms (Chinese: character bigrams) a sentence "
        "holds, where the embedder does not read it.",
    )
    min_share: float = Field(
        0.6, ge=0.0, le=1.0, description="A sentence also scores this share of the best one."
    )


class GenerationParams(BaseModel):
    """Sampling parameters, mapped to each backend's names; None leaves the server's default.

    Ollama's names: repetition_penalty is `repeat_penalty`, max_tokens is `num_predict`.
    top_k and repetition_penalty go to OpenAI-compatible servers in the request body's
    extra fields, where vLLM, llama.cpp and SGLang read them.
    """

    model_config = _FROZEN
    temperature: float | None = Field(0.1, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    repetition_penalty: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(512, gt=0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)


class GeneratorConfig(ServerCalls):
    """The model that writes answers: none (extractive answer), openai (vLLM, llama.cpp and
    any OpenAI-compatible server) or ollama."""

    model_config = _FROZEN
    backend: str = Field("none", description="none, openai or ollama.")
    model: str = Field("", description="Served model name, or a LoRA adapter's name.")
    context_window: int = Field(
        4096, gt=0, description="Model context in tokens (prompt + answer)."
    )
    keep_alive: str = Field("5m", description="ollama: how long the model stays loaded.")
    tokenizer: str | None = Field(
        None,
        description="Folder of the served model's tokenizer (tokenizer.json or "
        "tokenizer.model, e.g. the fine-tuned model's folder) for exact token counts; unset: "
        "a safe estimate.",
    )
    parallel_requests: int = Field(
        4,
        gt=0,
        description="map_reduce: calls sent at once. 1 for servers that serve one request at "
        "a time (llama-cpp-python's server cuts a running answer off for a new request).",
    )
    synthesis: str = Field(
        "stuff",
        description="stuff (all context in one prompt), refine (block by block, improving "
        "the answer) or map_reduce (an answer per block, then one combining them).",
    )
    prompt_dir: str | None = Field(
        None, description="Folder with system.en.txt, user.zh.txt... to replace the prompts."
    )
    params: GenerationParams = GenerationParams()


class ApiKey(BaseModel):
    """A key with scopes: the knowledge bases it reaches (`*`: all) and what it may do
    (`read` asks and searches, `write` adds and deletes documents, `admin` creates and
    deletes knowledge bases; each includes the ones before it)."""

    model_config = _FROZEN
    key: SecretStr
    kbs: list[str] = Field(default_factory=lambda: ["*"])
    role: Literal["read", "write", "admin"] = "admin"


class ApiConfig(BaseModel):
    """`[api]`: the REST service (`rag serve`)."""

    model_config = _FROZEN
    host: str = "127.0.0.1"
    port: int = Field(
        8100, ge=0, le=65535, description="8100: vLLM and a Chroma server default to 8000."
    )
    workers: int = Field(
        1,
        ge=1,
        description="Server processes; more than one needs a store server (Chroma or Milvus): "
        "one of them is the writer, the others serve reads.",
    )
    # NoDecode: RAG_API__KEYS=mysecret (or a,b) is read as keys, not parsed as JSON first.
    keys: Annotated[list[SecretStr | ApiKey], NoDecode] = Field(
        default_factory=list,
        description="API keys (plain strings have every scope); none: no authentication, "
        "refused on a non-loopback host unless `rag serve --no-auth`. In the environment: "
        "RAG_API__KEYS=key1,key2, or JSON for scoped keys.",
    )
    metrics_public: bool = Field(True, description="Serve /metrics without a key.")
    max_concurrent_generations: int = Field(
        4, gt=0, description="Answers being written at once; more wait in the queue."
    )
    max_concurrent_searches: int = Field(8, gt=0, description="Searches running at once.")
    queue_size: int = Field(
        32, ge=0, description="Requests waiting for a slot; beyond it, 429 with Retry-After."
    )
    queue_timeout_s: float = Field(30.0, gt=0, description="Longest wait for a slot: then 429.")
    request_timeout_s: float = Field(120.0, gt=0, description="A whole answer, at most.")
    max_body_mb: float = Field(100.0, gt=0, description="Request body, at most.")
    header_timeout_s: float = Field(
        10.0, gt=0, description="A connection's request line and headers must arrive within this."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for the next piece of a request body (slow clients)."
    )
    max_file_mb: float = Field(50.0, gt=0, description="One uploaded file, at most.")
    max_files: int = Field(100, gt=0, description="Files in one upload request.")
    cors_origins: list[str] = Field(default_factory=list, description="Off when empty.")
    web_page: bool = Field(
        True, description="Serve the web page at / (its files need no key; its calls do)."
    )
    references: Literal["field", "message", "both"] = Field(
        "both",
        description="OpenAI endpoint: references as a `references` field, as a numbered list "
        "appended to the message, or both.",
    )
    embed_batch_wait_ms: float = Field(
        2.0, ge=0, description="Query embeddings: wait this long to batch concurrent ones."
    )
    embed_max_batch: int = Field(32, gt=0)
    torch_threads: int | None = Field(
        None, gt=0, description="Threads torch uses (default: the CPU cores the process has)."
    )
    jobs_kept: int = Field(1000, gt=0, description="Finished document jobs remembered.")
    trim_memory_s: float = Field(
        30.0,
        ge=0,
        description="Every this many seconds, hand memory that finished work freed back to "
        "the system (glibc's malloc_trim; elsewhere nothing); 0: never.",
    )

    @field_validator("keys", mode="before")
    @classmethod
    def _keys_from_text(cls, value: Any) -> Any:
        """A string (the environment's) is JSON when it starts with `[`, else keys separated
        by commas."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise ValueError(
                    f"not valid JSON ({exc}); write keys as key1,key2 or as JSON: "
                    '[{"key": "...", "kbs": ["hr"], "role": "read"}]'
                ) from exc
        return [part.strip() for part in text.split(",") if part.strip()]


class JudgeConfig(BaseModel):
    """The judge of `rag eval run`'s answer metrics. Empty fields take the generator's: by
    default the configured model judges (set a stronger model here when you have one)."""

    model_config = _FROZEN
    backend: str = Field("", description="Empty: the generator's; none, openai or ollama.")
    base_url: str = Field("", description="Empty: the generator's server.")
    model: str = Field("", description="Empty: the generator's model.")
    api_key: SecretStr = Field(SecretStr(""), description="Empty: the generator's key.")
    prompt_dir: str | None = Field(
        None, description="Folder with en/NAME.txt, zh/NAME.txt replacing eval's prompts."
    )
    max_tokens: int = Field(512, gt=0, description="Longest judge reply, in tokens.")
    timeout_s: float = Field(120.0, gt=0, description="Longest wait for one judge reply.")


class EvalConfig(BaseModel):
    """`rag eval`: the judge model and its prompts."""

    model_config = _FROZEN
    judge: JudgeConfig = JudgeConfig()


KB_NAME = r"^[a-z](?:[a-z0-9_]{0,30}[a-z0-9])?$"  # Chroma: names end in a letter or digit


class RagConfig(BaseSettings):
    """Root of the configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )
    data_dir: Path = Path(".rag")
    kb: str = Field(
        "default",
        pattern=KB_NAME,
        description="The knowledge base commands act on (lowercase letters, digits, _).",
    )
    language: Literal["auto", "en", "zh"] = "auto"
    embedder: EmbedderConfig = EmbedderConfig()
    chunker: ChunkerConfig = ChunkerConfig()
    parser: ParserConfig = ParserConfig()
    store: StoreConfig = StoreConfig()
    state: StateConfig = StateConfig()
    database: DatabaseConfig = DatabaseConfig()
    lexical: LexicalConfig = LexicalConfig()
    summary: SummaryConfig = SummaryConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    rewrite: RewriteConfig = RewriteConfig()
    reranker: RerankerConfig = RerankerConfig()
    compression: CompressionConfig = CompressionConfig()
    answer: AnswerConfig = AnswerConfig()
    generator: GeneratorConfig = GeneratorConfig()
    api: ApiConfig = ApiConfig()
    eval: EvalConfig = EvalConfig()

    @property
    def state_backend(self) -> str:
        """The state backend in effect: `state.backend`, or when empty, postgres with a
        database.url and embedded without."""
        if self.state.backend:
            return self.state.backend
        return "postgres" if self.database.url.get_secret_value() else "embedded"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file: the file's values arrive as init kwargs.
        return (env_settings, init_settings)


def relocated(config: RagConfig, place: str, **updates: Any) -> RagConfig:
    """`config` for an index of its own (an evaluation's): `place` under the data dir, and
    in a shared state its own schema of the database (`<namespace>_<place>_<hash>`), so it
    never mixes with the deployment's knowledge bases.

    Example:
        >>> relocated(RagConfig(), "eval/scifact").database.namespace
        'rag_eval_scifact_467fce'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", place.lower()).strip("_")
    digest = hashlib.sha256(place.encode("utf-8")).hexdigest()[:6]
    namespace = f"{config.database.namespace}_{slug}"[:32] + f"_{digest}"
    return derive(
        config, data_dir=config.data_dir / place, database={"namespace": namespace}, **updates
    )


def load_config(path: str | Path | None = None) -> RagConfig:
    """Load the configuration once, at the edge (CLI, API lifespan).

    Args:
        path: A TOML file. When None, `RAG_CONFIG` names it; when that is unset too,
            `./rag.toml` is read if it exists.

    Returns:
        The frozen configuration tree.

    Raises:
        ConfigError: The file is missing or malformed, or a value is invalid.
    """
    explicit = path if path is not None else os.environ.get("RAG_CONFIG")
    file = Path(explicit) if explicit else Path("rag.toml")
    data: dict[str, Any] = {}
    if explicit and not file.is_file():
        raise ConfigError(f"config file {file} does not exist; pass an existing --config path")
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {file} is not valid TOML: {exc}") from exc
    try:
        return RagConfig(**data)
    except ValidationError as exc:
        where = f"{file} and the RAG_ environment" if data else "the RAG_ environment"
        raise ConfigError(f"{_problems(exc)} (from {where})") from exc


def _setting_names(model: type[BaseModel], prefix: str = "RAG_") -> set[str]:
    """Every environment variable name that reaches a setting (sections included)."""
    names = set()
    for name, field in model.model_fields.items():
        full = f"{prefix}{name.upper()}"
        names.add(full)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _setting_names(annotation, f"{full}__")
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each `RAG_` variable that matches no setting (it would be ignored
    silently), naming the closest setting."""
    known = _setting_names(RagConfig)
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("RAG_") or upper in known or upper in _NOT_SETTINGS:
            continue
        if upper.split("__")[0] in known and "__" in upper:
            continue  # a name inside a section: `load_config` refuses it, naming the closest
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"environment variable {name} matches no setting and is ignored{hint}")
    return out
