"""Parsing with `unstructured`: every text-bearing office, web, e-mail and image format.

Runs inside a parser process (see `ingest.isolation`), never in the caller's process.

Example:
    >>> loader = UnstructuredLoader(ParserConfig())
    >>> loader.warm_up()  # doctest: +SKIP
    >>> loader.load(Path("handbook.docx"))[0].section  # doctest: +SKIP
    ('Employee Handbook',)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ingest.encoding import TEXT_SUFFIXES, detect_encoding
from rag.config import ParserConfig
from rag.errors import (
    CorruptFileError,
    EmptyDocumentError,
    IngestError,
    MissingToolError,
    UnsupportedFormatError,
)
from rag.types import Element

__all__ = ["UnstructuredLoader"]

logger = logging.getLogger(__name__)

_IMAGE = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".heic", ".webp"}
_EMAIL = {".eml", ".msg"}
_DELIMITED = {".csv": "", ".tsv": "\t"}  # "": sniffed
_KNOWN_SUFFIXES = frozenset(
    ".pdf .docx .doc .pptx .ppt .xlsx .xls .csv .tsv .html .htm .xml .md .rst .org .txt .json "
    ".eml .msg .epub .rtf .odt .png .jpg .jpeg .tif .tiff .bmp .heic".split()
)
_SENTENCE_END = set("。！？；.!?;：:")
_SKIPPED_CATEGORIES = {"PageBreak", "Header", "Footer", "PageNumber"}
_TOOLS = {
    "libreoffice": "LibreOffice is needed to read this legacy Office format: install it "
    "(Debian/Ubuntu: apt-get install libreoffice-writer-nogui libreoffice-impress-nogui; "
    "macOS: brew install --cask libreoffice) or save the file as .docx/.pptx/.xlsx",
    "tesseract": "tesseract is needed for OCR of images and scanned PDFs: install it "
    "(Debian/Ubuntu: apt-get install tesseract-ocr tesseract-ocr-chi-sim; macOS: brew install "
    "tesseract tesseract-lang)",
    "pandoc": "pandoc is needed for EPUB, RTF, ODT and Org files: pip install pypandoc-binary, "
    "or install pandoc (apt-get install pandoc)",
}


class UnstructuredLoader:
    """`unstructured.partition.auto` with offline NLP, OCR fallback and clear errors."""

    def __init__(self, config: ParserConfig) -> None:
        self._config = config
        self._partition: Any = None
        self._ocr_languages: list[str] | None = None

    def warm_up(self) -> None:
        if self._partition is not None:
            return
        # No usage pings or notices from a parser process (air-gapped sites would wait).
        os.environ.setdefault("DO_NOT_TRACK", "true")
        os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
        os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
        logging.getLogger("unstructured").setLevel(logging.ERROR)
        from ingest.loaders.offline_nlp import use_installed_spacy_model
        from ingest.loaders.pdf_complexity import keep_text_of_drawing_heavy_pdfs

        use_installed_spacy_model()
        keep_text_of_drawing_heavy_pdfs()
        from unstructured.partition.auto import partition
        from unstructured.partition.text import partition_text

        # Load the NLP model now, so the per-file time limit measures parsing only.
        partition_text(text="Warm-up sentence for the parser.")
        self._partition = partition

    def load(self, path: Path) -> list[Element]:
        self.warm_up()
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            raw = self._pdf(path)
        elif suffix in _IMAGE:
            raw = self._run(path, strategy="ocr_only", languages=self._languages())
        elif suffix in _EMAIL:
            raw = self._email(path)
        elif suffix in _DELIMITED:
            return _delimited(path, _DELIMITED[suffix])
        elif suffix in TEXT_SUFFIXES:
            raw = self._run(path, encoding=detect_encoding(path.read_bytes()))
        else:
            raw = self._run(path)
        elements = _convert(raw)
        if not elements:
            raise EmptyDocumentError("no text found (empty, whitespace only, or text-less)")
        return elements

    def _pdf(self, path: Path) -> list[Any]:
        _check_pdf_readable(path)
        raw = self._run(path, strategy="fast")
        if any(getattr(e, "text", "").strip() for e in raw):
            return raw
        if shutil.which("tesseract") is None:
            raise MissingToolError("the PDF has no text layer. " + _TOOLS["tesseract"])
        return self._run(path, strategy="ocr_only", languages=self._languages())

    def _email(self, path: Path) -> list[Any]:
        if path.suffix.lower() == ".eml" and detect_encoding(path.read_bytes()).startswith(
            "utf-16"
        ):
            # The MIME parser reads bytes as ASCII-compatible; a UTF-16 file must be re-encoded.
            with tempfile.TemporaryDirectory(prefix="rag-eml-") as tmp:
                utf8 = Path(tmp) / path.name
                utf8.write_text(path.read_bytes().decode("utf-16"), encoding="utf-8")
                return self._email(utf8)
        # Image attachments need OCR; without tesseract, keep the message text and skip them.
        if shutil.which("tesseract") is not None:
            return self._run(path, strategy="ocr_only", languages=self._languages())
        logger.warning("%s: tesseract not installed, skipping e-mail attachments", path)
        return self._run(path, strategy="fast", process_attachments=False)

    def _languages(self) -> list[str]:
        if self._ocr_languages is None:
            if shutil.which("tesseract") is None:
                raise MissingToolError(_TOOLS["tesseract"])
            listed = subprocess.run(
                ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
            ).stdout.split()
            wanted = self._config.ocr_languages
            self._ocr_languages = [lang for lang in wanted if lang in listed] or listed[-1:]
            missing = sorted(set(wanted) - set(self._ocr_languages))
            if missing:
                logger.warning(
                    "tesseract lacks languages %s; OCR uses %s", missing, self._ocr_languages
                )
        return self._ocr_languages

    def _run(self, path: Path, **kwargs: Any) -> list[Any]:
        try:
            return list(self._partition(filename=str(path), **kwargs))
        except (IngestError, MemoryError):
            raise  # MemoryError: the parser process reports the limit that stopped it
        except Exception as exc:  # noqa: BLE001 - hostile files raise anything; one line per file
            raise _translate(exc, path.suffix.lower()) from exc


def _delimited(path: Path, delimiter: str) -> list[Element]:
    """CSV and TSV read with the csv module, every field kept: unstructured's reader drops a
    row with a field over about 10 MB, and the rows after it, while reporting success."""
    import csv
    import io
    import sys

    data = path.read_bytes()
    try:
        text = data.decode(detect_encoding(data))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"the file's text cannot be decoded ({exc})") from exc
    if not delimiter:
        try:
            delimiter = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(sys.maxsize)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise CorruptFileError(f"not a readable {path.suffix.lower()} table ({exc})") from exc
    lines = [" ".join(cell.strip() for cell in row if cell.strip()) for row in rows]
    table = "\n".join(line for line in lines if line)
    if not table:
        raise EmptyDocumentError("no text found (empty, whitespace only, or text-less)")
    return [Element(table, "Table", None, ())]


def _check_pdf_readable(path: Path) -> None:
    """Encrypted PDFs parse to nothing in unstructured; say why instead."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        locked = reader.is_encrypted and not reader.decrypt("")
    except (PdfReadError, ValueError, KeyError, TypeError, OSError):
        return  # pypdf is only asked about encryption; pdfminer judges damaged files itself
    if locked:
        raise CorruptFileError("the PDF is password-protected; remove the password and retry")


def _translate(exc: Exception, suffix: str) -> IngestError:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    lower = text.lower()
    if "soffice" in lower or "libreoffice" in lower:
        return MissingToolError(_TOOLS["libreoffice"])
    if "tesseract" in lower and ("not installed" in lower or "notfound" in lower):
        return MissingToolError(_TOOLS["tesseract"])
    if "pandoc" in lower and ("no pandoc" in lower or "not found" in lower):
        return MissingToolError(_TOOLS["pandoc"])
    if "password" in lower or "encrypt" in lower:
        return CorruptFileError("the file is password-protected; remove the password and retry")
    if type(exc).__name__ == "UnsupportedFileFormatError":
        if suffix in _KNOWN_SUFFIXES:
            return CorruptFileError(
                f"the content is not a valid {suffix} file (damaged or mislabelled): {exc}"
            )
        return UnsupportedFormatError(
            "unsupported file type: the content is not a format this parser reads (PDF, "
            "Office, HTML, Markdown, text, e-mail, images...); convert it or leave it out"
        )
    return CorruptFileError(f"cannot parse the file ({text[:300]})")


def _convert(raw: list[Any]) -> list[Element]:
    """unstructured elements -> ours, with the section path built from titles."""
    out: list[Element] = []
    stack: list[str] = []
    for item in raw:
        category = str(getattr(item, "category", "Text"))
        text = str(getattr(item, "text", "") or "").strip()
        if not text or category in _SKIPPED_CATEGORIES:
            continue
        meta = item.metadata
        if category == "Title" and (len(text) > 120 or text[-1] in _SENTENCE_END):
            category = "NarrativeText"  # unstructured's title heuristic misreads CJK sentences
        if category == "Title":
            depth = int(getattr(meta, "category_depth", None) or 0)
            stack = stack[:depth] + [" ".join(text.split())[:120]]
        page = getattr(meta, "page_number", None)
        out.append(Element(text, category, int(page) if page else None, tuple(stack)))
    return out
