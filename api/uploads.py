"""Uploaded files: names made safe, bytes written to a private folder, sizes limited.

A name keeps only its last path component (no traversal, no absolute path); a name with
NUL or other control characters is refused for that file (the others go on). Files land in
a fresh batch of the state's upload staging (`rag.state.base.UploadStaging`: a `0700`
folder under `<data_dir>/uploads/` when embedded, rows in PostgreSQL when the state is
shared), discarded when the job is done.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.errors import FileTooLargeError
from rag.state.base import UploadStaging

__all__ = ["Saved", "UploadLike", "safe_name", "save_uploads"]

_CHUNK = 1 << 20


class UploadLike(Protocol):
    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Saved:
    """One uploaded file: its (safe) name, and either its name in the batch or why it was
    refused."""

    name: str
    stored: str | None
    reason: str = ""
    code: str = ""  # the refusal's kind (`FileResult.code`)


_WHATWG = {"%22": '"', "%0D": "\r", "%0A": "\n"}  # how browsers (and httpx) escape names
_LONGEST = 200


def safe_name(name: str | None) -> tuple[str, str]:
    """(the name to use, "" or why the name is refused). Names longer than 200 characters
    are shortened, keeping their extension."""
    raw = name or ""
    for escaped, char in _WHATWG.items():
        raw = raw.replace(escaped, char).replace(escaped.lower(), char)
    if any(unicodedata.category(c) == "Cc" for c in raw):
        shown = raw.encode("unicode_escape").decode("ascii")
        return shown[-200:] or "upload", "the file name holds NUL or control characters"
    # Only "/" separates folders: a backslash is a character of a POSIX name (and of the
    # CLI's escapes for bytes that are not UTF-8, `dress\\xff.txt`), kept as sent.
    base = raw.rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        return "upload", "the file has no name; send it with a file name"
    if len(base) > _LONGEST:
        suffix = Path(base).suffix[:20]
        base = base[: _LONGEST - len(suffix)] + suffix
    return base, ""


async def save_uploads(
    files: Sequence[UploadLike], staging: UploadStaging, max_file_bytes: int
) -> tuple[str, list[Saved]]:
    """Stream each upload into a new batch of `staging` (its writes run off the event loop:
    a file, or a database); a file over `max_file_bytes` is cut off and refused.

    Returns:
        (the batch, each file as saved or refused).
    """
    batch = await asyncio.to_thread(staging.new_batch)
    saved = []
    for number, upload in enumerate(files):
        name, refused = safe_name(upload.filename)
        if refused:
            saved.append(Saved(name, None, refused, "bad_name"))
            continue
        stored = f"{number:04d}-{name}"
        writer = await asyncio.to_thread(staging.writer, batch, stored)
        size = 0
        while block := await upload.read(_CHUNK):
            size += len(block)
            if size > max_file_bytes:
                break
            await asyncio.to_thread(writer.write, block)
        if size > max_file_bytes:
            await asyncio.to_thread(writer.abort)
            over = f"the file is over api.max_file_mb ({max_file_bytes / 1e6:g} MB)"
            saved.append(Saved(name, None, over, FileTooLargeError.code))
            continue
        await asyncio.to_thread(writer.close)
        saved.append(Saved(name, stored))
    return batch, saved
