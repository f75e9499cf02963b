"""Checks a file must pass before any parser reads it; they run in the parser process.

- XML entities: a document that declares entities is refused, wherever XML is read (XML,
  SVG, XHTML and HTML files; the parts of DOCX, XLSX, PPTX, ODF and EPUB files). That covers
  external entities (XXE: `<!ENTITY x SYSTEM "file:///etc/passwd">`) and entity expansion
  ("billion laughs") with one rule, defusedxml's `forbid_entities`, applied to the raw bytes
  before lxml, python-docx, openpyxl or pandoc see them. Office and ODF parts never carry a
  document type declaration at all, so there any `<!DOCTYPE` is refused too.
- XML nested deeper than `MAX_XML_DEPTH` is refused (libxml2 stops there too, and a parser
  that recovers would index the tags as text).
- JSON nested deeper than `MAX_JSON_DEPTH` is refused by counting brackets outside strings,
  before a recursive reader runs out of stack on it.
- Office files are ZIP containers: their parts are inflated once, counting, against
  `parser.zip_max_total_mb` (a 44 KB DOCX can inflate to gigabytes), and against the sizes
  their headers declare.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingest.archive import copy_bounded
from ingest.encoding import detect_encoding
from rag.config import ParserConfig
from rag.errors import UnsafeFileError

__all__ = ["CONTAINER_SUFFIXES", "MAX_JSON_DEPTH", "MAX_XML_DEPTH", "XML_SUFFIXES", "check_file"]

MAX_XML_DEPTH = 256
MAX_JSON_DEPTH = 256

CONTAINER_SUFFIXES = frozenset(
    ".docx .docm .dotx .xlsx .xlsm .pptx .pptm .potx .odt .ods .odp .epub".split()
)
XML_SUFFIXES = frozenset({".xml", ".svg", ".xhtml", ".html", ".htm", ".xsl", ".rss", ".atom"})
_ODF_OR_EPUB = frozenset({".odt", ".ods", ".odp", ".epub"})
_ENTITY = re.compile(r"<!ENTITY", re.I)
_TAG = re.compile(r"<(/?)[A-Za-z_][^<>]*?(/?)>")
# Office parts in UTF-8 or UTF-16, as bytes: `<!ENTITY` / `<!DOCTYPE`.
_PART_MARKS = tuple(
    re.compile(re.escape(word.encode(enc)), re.I)
    for word in ("<!ENTITY", "<!DOCTYPE")
    for enc in ("utf-8", "utf-16-le", "utf-16-be")
)
_ENTITY_MARKS = _PART_MARKS[:3]
_TAIL = 32  # bytes kept between blocks, so a mark split across two is still seen


def check_file(path: Path, config: ParserConfig) -> None:
    """Refuse `path` if it is built to harm the parser that would read it.

    Raises:
        UnsafeFileError: Entity declarations, or an Office file over the unpacking limits.
    """
    suffix = path.suffix.lower()
    if suffix in XML_SUFFIXES:
        data = path.read_bytes()
        text = data.decode(detect_encoding(data), "replace")
        if _ENTITY.search(text):
            raise UnsafeFileError(_ENTITIES)
        if suffix not in _HTML and _too_deep(text):
            raise UnsafeFileError(
                f"the XML is nested more than {MAX_XML_DEPTH} elements deep; refused"
            )
    elif suffix == ".json":
        data = path.read_bytes()
        if _json_too_deep(data.decode(detect_encoding(data), "replace")):
            raise UnsafeFileError(
                f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep; refused"
            )
    elif suffix in CONTAINER_SUFFIXES:
        _check_container(path, config, doctype=suffix not in _ODF_OR_EPUB)


_HTML = frozenset({".html", ".htm"})  # HTML leaves elements open: depth means nothing


def _too_deep(text: str) -> bool:
    depth = 0
    for match in _TAG.finditer(text):
        if match.group(1):
            depth -= 1
        elif not match.group(2):
            depth += 1
            if depth > MAX_XML_DEPTH:
                return True
    return False


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # a string, or a bracket


def _json_too_deep(text: str) -> bool:
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif token in "]}":
            depth -= 1
    return False


_ENTITIES = (
    "the file declares XML entities (<!ENTITY ...>), used for external-entity (XXE) and "
    "entity-expansion attacks; refused. Remove the declarations to ingest it"
)


def _check_container(path: Path, config: ParserConfig, doctype: bool) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # not a container after all: the parser says what is wrong with it
    limit = int(config.zip_max_total_mb * 1e6)
    with archive:
        parts = archive.infolist()
        declared = sum(p.file_size for p in parts)
        if declared > limit:
            raise UnsafeFileError(
                f"the file unpacks to {declared / 1e6:.0f} MB, over parser.zip_max_total_mb="
                f"{config.zip_max_total_mb:g}: a zip bomb"
            )
        marks = _PART_MARKS if doctype else _ENTITY_MARKS
        for part in parts:
            with archive.open(part) as src:
                scanner = _Scanner(marks)
                inflated = copy_bounded(src, scanner, limit)
            if scanner.found:
                # DTDs have no place in Office parts: they only serve entity tricks.
                raise UnsafeFileError(
                    _ENTITIES
                    if b"ENTITY" in scanner.found.upper()
                    else f"an Office part ({part.filename}) declares a document type; refused"
                )
            if inflated > part.file_size:
                raise UnsafeFileError(
                    f"part {part.filename!r} inflates past its declared size: a forged file"
                )
            limit -= inflated


class _Scanner:
    """A write-only sink that looks for marks in what passes through it."""

    def __init__(self, marks: tuple[re.Pattern[bytes], ...]) -> None:
        self._marks, self._tail = marks, b""
        self.found = b""

    def write(self, block: bytes) -> int:
        if not self.found:
            window = self._tail + block
            for mark in self._marks:
                hit = mark.search(window)
                if hit:
                    self.found = hit.group(0).replace(b"\x00", b"")
                    break
            self._tail = window[-_TAIL:]
        return len(block)
