"""Finding the files to ingest under the paths a user names, as an attacker's folder is.

A folder nobody checked may hold links out of it (`notes.txt -> /etc/passwd`, `etc -> /etc`),
FIFOs that block whoever opens them, sockets, devices, and names that are not valid UTF-8.
`discover` returns the regular files to ingest and, for everything else it meets, a reason:

- a symbolic link is followed only when its target stays inside the folder being ingested
  (the target is ingested once, under its own path), or everywhere with `follow_links`;
- FIFOs, sockets and devices are skipped unopened;
- hidden files and folders, and the index's own data dir, are left out silently.

Names that are not UTF-8 are kept: `file_key` turns a path into the text the catalog stores
(`key_path` turns it back) and `display` into text a person can read.

Example:
    >>> found = discover([Path("docs")], Path(".rag"))  # doctest: +SKIP
    >>> found.files, found.skipped  # doctest: +SKIP
    ([PosixPath('/home/me/docs/a.pdf')], [('docs/pipe', 'a FIFO, not a regular file')])
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import IngestError

__all__ = ["Discovery", "discover", "display", "file_key", "key_path", "open_regular"]

_BYTES_KEY = "fsbytes:"  # a path that is not UTF-8: its bytes in hex (real keys start with /)
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


@dataclass(slots=True)
class Discovery:
    """Regular files to ingest (absolute, sorted) and what was left out, with reasons."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (display name, reason)


def discover(paths: Iterable[Path], data_dir: Path, *, follow_links: bool = False) -> Discovery:
    """Every regular file under `paths`; see the module docstring for what is left out.

    A path named directly is taken even when it is a link (the user chose it).

    Raises:
        IngestError: A path does not exist.
    """
    skip = data_dir.resolve()
    found: set[Path] = set()
    result = Discovery()
    for path in paths:
        if not path.exists():
            raise IngestError(f"{display(path)} does not exist; give a file or folder to ingest")
        root = path.resolve()
        if not root.is_dir():
            _take(root, found, result)
            continue
        for entry, reason in _walk(root, skip, follow_links):
            if reason:
                result.skipped.append((display(entry), reason))
            else:
                _take(entry, found, result)
    result.files = sorted(found)
    return result


def _take(path: Path, found: set[Path], result: Discovery) -> None:
    kind = _kind(path.stat().st_mode)
    if kind:
        result.skipped.append((display(path), f"{kind}, not a regular file"))
    else:
        found.add(path)


def _walk(root: Path, skip: Path, follow_links: bool) -> Iterator[tuple[Path, str]]:
    """(path, "") for each file to take, (path, reason) for each one left out."""
    stack, seen = [root], {root}
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            yield folder, f"cannot list the folder ({exc.strerror})"
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or path == skip:
                continue
            target, reason = _follow(path, root, follow_links) if entry.is_symlink() else (path, "")
            if target is None:
                if reason:
                    yield path, reason
                continue
            mode = target.stat().st_mode
            if not stat.S_ISDIR(mode):
                yield (path, f"{_kind(mode)}, not a regular file") if _kind(mode) else (target, "")
            elif target not in seen and skip != target and skip not in target.parents:
                seen.add(target)  # links may loop: each folder is walked once
                stack.append(target)


def _follow(link: Path, root: Path, follow_links: bool) -> tuple[Path | None, str]:
    """Where a link found under `root` leads: (target, "") to take it, (None, reason) to
    leave it out, (None, "") to pass over it silently."""
    target = link.resolve()
    if not target.exists():
        return None, "a broken symbolic link"
    if not follow_links and not target.is_relative_to(root):
        return None, (
            f"a symbolic link to {display(target)}, outside the folder being ingested; "
            "ingest it with --follow-links"
        )
    if target.is_dir() and not follow_links:
        return None, ""  # its files are under the root already, reached on their own
    return target, ""


def _kind(mode: int) -> str:
    return "" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: Path) -> int:
    """A read-only descriptor of `path`, refused unless it is a regular file that is not a
    link: a FIFO swapped in after discovery must not block the run (O_NONBLOCK), a link
    swapped in must not be followed (O_NOFOLLOW).

    Raises:
        IngestError: Not a regular file, or it cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise IngestError(f"cannot open the file ({exc.strerror})") from exc
    kind = _kind(os.fstat(fd).st_mode)
    if kind:
        os.close(fd)
        raise IngestError(f"{kind}, not a regular file")
    return fd


def file_key(path: Path) -> str:
    """The text the catalog stores for `path`: the path itself, or for a name that is not
    UTF-8, its bytes in hex behind a prefix no real path has."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _BYTES_KEY + os.fsencode(path).hex()
    return text


def key_path(key: str) -> Path:
    """The path `file_key` stored."""
    if key.startswith(_BYTES_KEY):
        return Path(os.fsdecode(bytes.fromhex(key[len(_BYTES_KEY) :])))
    return Path(key)


def display(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when inside it;
    bytes that are not UTF-8 shown as `\\xff` escapes."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    return os.fsencode(shown).decode("utf-8", "backslashreplace")
