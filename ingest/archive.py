"""ZIP archives: each member is parsed as its own document, within size limits.

A hostile archive may declare small sizes and inflate to gigabytes (zip bombs, flat or
nested), or name members `../../.bashrc` or `/etc/cron.d/x` (zip slip). Here a member's name
is only ever a label: it is extracted to `<number><suffix>` in a private temporary folder.
Sizes are checked as declared before anything is extracted, and as actually inflated while
extracting (a header can lie); archives inside archives are opened to `zip_max_depth`
levels, and one budget of members and bytes covers the whole tree.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from rag.config import ParserConfig
from rag.errors import CorruptFileError, UnsafeFileError

__all__ = ["ARCHIVE_SUFFIXES", "Budget", "Sink", "copy_bounded", "iter_members"]

ARCHIVE_SUFFIXES = frozenset({".zip"})
_BLOCK = 1 << 20


class Sink(Protocol):
    """Where inflated bytes go (a file, or a scanner that only looks at them)."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(slots=True)
class Budget:
    """What one archive tree may still unpack: members and bytes."""

    members: int
    bytes: int

    @classmethod
    def of(cls, config: ParserConfig) -> Budget:
        return cls(config.zip_max_members, int(config.zip_max_total_mb * 1e6))


def iter_members(
    path: Path, config: ParserConfig, budget: Budget | None = None, depth: int = 1
) -> Iterator[tuple[str, Path | UnsafeFileError]]:
    """Extract the archive's files one by one to a private temporary folder.

    Yields (member name, extracted path), or (name, error) for a member refused on its own;
    a nested archive's members are named `inner.zip!file`. The file is deleted after the
    consumer's turn. Directories, hidden and macOS resource files are skipped.

    Raises:
        CorruptFileError: Not a valid ZIP, or encrypted.
        UnsafeFileError: The tree is over the member, size or depth limits.
    """
    budget = budget or Budget.of(config)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptFileError(f"not a readable ZIP archive ({exc})") from exc
    with archive, tempfile.TemporaryDirectory(prefix="rag-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir() and _wanted(m.filename)]
        _charge(budget, members, config)
        for number, member in enumerate(members):
            if member.flag_bits & 0x1:
                raise CorruptFileError("the archive is password-protected")
            suffix = PurePosixPath(member.filename).suffix.lower()
            if member.file_size > config.max_file_mb * 1e6:
                yield member.filename, UnsafeFileError(_too_big(member.file_size, config))
                continue
            target = Path(tmp) / f"{number}{suffix}"
            limit = min(budget.bytes, int(config.max_file_mb * 1e6))
            with archive.open(member) as src, target.open("wb") as dst:
                written = copy_bounded(src, dst, limit)
            if written > member.file_size:
                raise UnsafeFileError(
                    f"member {member.filename!r} inflates past its declared size "
                    f"({member.file_size} bytes): a forged archive"
                )
            budget.bytes -= written
            if suffix in ARCHIVE_SUFFIXES:
                yield from _nested(member.filename, target, config, budget, depth)
            else:
                yield member.filename, target
            target.unlink(missing_ok=True)


def _nested(
    name: str, target: Path, config: ParserConfig, budget: Budget, depth: int
) -> Iterator[tuple[str, Path | UnsafeFileError]]:
    if depth >= config.zip_max_depth:
        raise UnsafeFileError(
            f"archives nested deeper than parser.zip_max_depth={config.zip_max_depth} (at {name!r})"
        )
    for inner, item in iter_members(target, config, budget, depth + 1):
        yield f"{name}!{inner}", item


def _charge(budget: Budget, members: list[zipfile.ZipInfo], config: ParserConfig) -> None:
    """Take the members' declared counts and sizes from the budget, or refuse the tree."""
    budget.members -= len(members)
    if budget.members < 0:
        raise UnsafeFileError(
            f"the archive holds more than parser.zip_max_members={config.zip_max_members} "
            "files (nested archives included)"
        )
    total = sum(m.file_size for m in members)
    if total > budget.bytes:
        raise UnsafeFileError(
            f"the archive unpacks to {total / 1e6:.0f} MB, over parser.zip_max_total_mb="
            f"{config.zip_max_total_mb:g} (nested archives included)"
        )


def copy_bounded(src: IO[bytes], dst: Sink | None, limit: int) -> int:
    """Copy (or with `dst` None, only count) at most `limit` bytes; one more is an error.

    Raises:
        UnsafeFileError: `src` holds more than `limit` bytes.
    """
    written = 0
    while block := src.read(_BLOCK):
        written += len(block)
        if written > limit:
            raise UnsafeFileError(
                f"unpacks to more than {limit / 1e6:.0f} MB (parser.zip_max_total_mb / "
                "max_file_mb): a zip bomb"
            )
        if dst is not None:
            dst.write(block)
    return written


def _too_big(size: int, config: ParserConfig) -> str:
    return f"unpacks to {size / 1e6:.0f} MB, over parser.max_file_mb={config.max_file_mb:g}"


def _wanted(name: str) -> bool:
    # `..` and `/` are kept: a name is only a label here, never a path to write to.
    parts = PurePosixPath(name).parts
    return not any((p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts)
