"""The index manifest: build facts written next to the index (C5), never into the config.

It records the index format, the embedding model (name, hash of its files, dimension), the
chunker settings, the lexical analyzer settings and the knowledge bases the data dir holds
(`kbs`: name -> description and creation time; an index written before knowledge bases
existed holds `default` alone). Opening an index with another model is
refused instead of mixing vectors; writing with another chunker or analyzer is refused too.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rag.config import ChunkerConfig, LexicalConfig
from rag.embed.base import ModelFingerprint
from rag.errors import IndexMismatchError, StoreError

__all__ = [
    "DEFAULT_KB",
    "LEXICAL_BEFORE",
    "MANIFEST_NAME",
    "Manifest",
    "check_manifest",
    "iso_time",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
DEFAULT_KB = "default"
FORMAT = 2  # 2: BM25 tables in the catalog
# Analysis settings added after FORMAT 2, with the value an index built before them has.
LEXICAL_BEFORE: dict[str, Any] = {"traditional": "keep"}


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the vectors in an index were built with."""

    embedder: ModelFingerprint
    chunker: dict[str, Any]
    store: str
    created_at: str
    versions: dict[str, str]
    lexical: dict[str, Any]
    format: int = FORMAT
    kbs: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        embedder: ModelFingerprint,
        chunker: ChunkerConfig,
        lexical: LexicalConfig,
        store: str,
    ) -> Manifest:
        """A manifest for a fresh index built now."""
        return cls(
            embedder=embedder,
            chunker=chunker.model_dump(),
            lexical=lexical.analysis(),
            store=store,
            created_at=_now(),
            versions=_versions(),
            kbs={DEFAULT_KB: {"description": "", "created_at": _now()}},
        )

    def with_kb(self, name: str, description: str) -> Manifest:
        """This manifest with knowledge base `name` added (or its description changed)."""
        created = self.kbs.get(name, {}).get("created_at", _now())
        entry = {"description": description, "created_at": created}
        return replace(self, kbs={**self.kbs, name: entry})

    def without_kb(self, name: str) -> Manifest:
        """This manifest without knowledge base `name`."""
        return replace(self, kbs={k: v for k, v in self.kbs.items() if k != name})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also embedded in eval reports)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        """The manifest `to_dict` gave (or an older one's form).

        Raises:
            ValueError, KeyError, TypeError: `raw` is not a manifest.
        """
        return cls(
            embedder=ModelFingerprint(**raw["embedder"]),
            chunker=dict(raw["chunker"]),
            store=str(raw["store"]),
            created_at=str(raw["created_at"]),
            versions=dict(raw.get("versions", {})),
            lexical=dict(raw.get("lexical", {})),
            format=int(raw.get("format", 1)),
            kbs={str(k): dict(v) for k, v in raw.get("kbs", {}).items()}
            or {DEFAULT_KB: {"description": "", "created_at": str(raw["created_at"])}},
        )


def _now() -> str:
    return iso_time(time.time())


def iso_time(value: float | str) -> str:
    """A moment as the service shows every time: RFC 3339 in UTC, to the second
    (`2026-12-06T20:17:03Z`), from epoch seconds or from an earlier manifest's
    `%Y-%m-%dT%H:%M:%S%z` string (returned unchanged when it is neither)."""
    seconds = value
    if isinstance(value, str):
        try:
            seconds = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            return value
    return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("rag-framework", "sentence-transformers", "chromadb", "unstructured", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def read_manifest(data_dir: Path) -> Manifest | None:
    """The manifest in `data_dir`, or None for a new index."""
    path = data_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"index manifest {path} is unreadable ({exc}); remove {data_dir} and ingest again"
        ) from exc


def write_manifest(data_dir: Path, manifest: Manifest) -> None:
    """Write atomically: a temporary file renamed over the old one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, data_dir / MANIFEST_NAME)


def check_manifest(
    data_dir: Path,
    existing: Manifest,
    model: ModelFingerprint,
    build: tuple[ChunkerConfig, LexicalConfig] | None,
) -> None:
    """Refuse to use an index of another format or embedding model, or (`build` given, when
    writing) another chunker or lexical analyzer.

    Raises:
        IndexMismatchError: The format, model name, file hash, dimension, chunker or
            analyzer differs.
    """
    if existing.format != FORMAT:
        raise IndexMismatchError(
            f"the index in {data_dir} has format {existing.format}, this version reads format "
            f"{FORMAT}; set RAG_DATA_DIR to a new directory (or remove {data_dir}) and ingest "
            "again"
        )
    built = existing.embedder
    if built != model and replace(built, backend=model.backend) == model:
        raise IndexMismatchError(
            f"the index in {data_dir} was embedded by the {built.backend} backend but the "
            f"configuration runs the same model on {model.backend}; their vectors differ "
            f"slightly and are not mixed. Set embedder.backend (and embedder.quantize) to "
            f"{_settings(built.backend)}, or set RAG_DATA_DIR to a new directory (or remove "
            f"{data_dir}) and ingest again"
        )
    if built != model:
        raise IndexMismatchError(
            f"the index in {data_dir} was built with embedding model {_named(built)} but "
            f"the configured model is {_named(model)}; mixing them "
            f"would give meaningless results. Use the original model, or set RAG_DATA_DIR to a "
            f"new directory (or remove {data_dir}) and ingest again"
        )
    if build is None:
        return
    for what, recorded, configured in (
        ("chunked", existing.chunker, build[0].model_dump()),
        ("analyzed for BM25", existing.lexical, _recorded_keys(build[1], existing.lexical)),
    ):
        if recorded != configured:
            raise IndexMismatchError(
                f"the index in {data_dir} was {what} with {recorded} but the configuration "
                f"says {configured}; restore those settings, or set RAG_DATA_DIR to a new "
                f"directory (or remove {data_dir}) and ingest again"
            )


def _recorded_keys(lexical: LexicalConfig, recorded: dict[str, Any]) -> dict[str, Any]:
    """The configured analysis, limited to the settings the index recorded: one added since
    (in `LEXICAL_BEFORE`) is read as it was when the index was built, not a mismatch."""
    configured = lexical.analysis()
    return {k: v for k, v in configured.items() if k in recorded or k not in LEXICAL_BEFORE}


def _named(model: ModelFingerprint) -> str:
    """The model as an error message names it: name, hash, dimension, and its server."""
    where = f", served by {model.server} ({model.backend})" if model.server else ""
    return f"{model.name} (sha256 {model.sha256[:12]}, dim {model.dimension}{where})"


def _settings(backend: str) -> str:
    """The embedder settings that select `backend` (as the fingerprint names it)."""
    name, _, precision = backend.partition("-")
    return f"backend = {name!r}, quantize = {(precision or 'none')!r}"
