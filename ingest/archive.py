"""ZIP archives: each member is parsed as its own document, within size limits."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from rag.config import ParserConfig
from rag.errors import CorruptFileError

__all__ = ["iter_members"]


def iter_members(path: Path, config: ParserConfig) -> Iterator[tuple[str, Path]]:
    """Extract the archive's files one by one to a private temporary folder.

    Yields (member name, extracted path); the file is deleted after the consumer's turn.
    Directories, hidden and macOS resource files are skipped; member names never leave the
    temporary folder (no path traversal); count and total size are capped (zip bombs).

    Raises:
        CorruptFileError: Not a valid ZIP, encrypted, or over the limits.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptFileError(f"not a readable ZIP archive ({exc})") from exc
    with archive, tempfile.TemporaryDirectory(prefix="rag-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir() and _wanted(m.filename)]
        if len(members) > config.zip_max_members:
            raise CorruptFileError(
                f"the archive has {len(members)} files, over parser.zip_max_members="
                f"{config.zip_max_members}"
            )
        total = sum(m.file_size for m in members)
        if total > config.zip_max_total_mb * 1e6:
            raise CorruptFileError(
                f"the archive unpacks to {total / 1e6:.0f} MB, over parser.zip_max_total_mb="
                f"{config.zip_max_total_mb:g}"
            )
        for number, member in enumerate(members):
            if member.flag_bits & 0x1:
                raise CorruptFileError("the archive is password-protected")
            target = Path(tmp) / f"{number}{PurePosixPath(member.filename).suffix.lower()}"
            with archive.open(member) as src, target.open("wb") as dst:
                dst.write(src.read(int(config.zip_max_total_mb * 1e6) + 1))
            yield member.filename, target
            target.unlink(missing_ok=True)


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not any(p.startswith(".") or p == "__MACOSX" for p in parts)
