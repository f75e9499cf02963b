"""Every format family in shared/data/docs, parsed by the real unstructured loader, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.loaders.unstructured import UnstructuredLoader
from rag.config import ParserConfig
from rag.errors import CorruptFileError, EmptyDocumentError, IngestError, MissingToolError

needs_soffice = pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice not installed"
)
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract not installed"
)


@pytest.fixture(scope="module")
def loader() -> UnstructuredLoader:
    parser = UnstructuredLoader(ParserConfig())
    parser.warm_up()
    return parser


# (file, text expected somewhere in it)
FORMATS = [
    ("unstructured/pdf/layout-parser-paper-fast.pdf", "LayoutParser"),
    ("unstructured/fake.docx", "Lorem ipsum"),
    ("unstructured/fake-power-point.pptx", "Adding a Bullet Slide"),
    ("unstructured/stanley-cups.xlsx", "Maple Leafs"),
    ("unstructured/tests-example.xls", "MC"),
    ("unstructured/stanley-cups.csv", "Maple Leafs"),
    ("unstructured/stanley-cups.tsv", "Maple Leafs"),
    ("unstructured/fake-html.html", "My First Heading"),
    ("unstructured/factbook.xml", "Washington"),
    ("unstructured/README.md", "Example Docs"),
    ("unstructured/README.rst", "Example Docs"),
    ("unstructured/README.org", "Example Docs"),
    ("unstructured/fake-text.txt", "Hamburgers are delicious"),
    ("unstructured/simple.json", "favorite things"),
    ("unstructured/fake-email.eml", "test email"),
    ("unstructured/fake-email.msg", "test email"),
    ("unstructured/winter-sports.epub", "Winter Sports"),
    ("unstructured/fake-doc.rtf", "My First Heading"),
    ("unstructured/fake.odt", "Lorem ipsum"),
    ("zh/chatchat/大模型指令对齐训练原理.md", "RLHF"),
    ("zh/chatchat/ocr_test.pdf", "我是文字"),
    ("zh/chatchat/ocr_test.docx", "文字"),
    ("zh/chatchat/ocr_test.pptx", "文字"),
    ("zh/ragflow/html.sample.zh.html", "张三"),
    # odd files that must still give their text
    ("unstructured/fake-text-utf-16.txt", "Hamburgers are delicious"),
    ("unstructured/example-steelJIS-datasheet-utf-16.html", "Japanese Steels"),
    ("unstructured/fake-html-cp1252.html", "L'été était très chaud"),
    ("unstructured/umlauts-non-utf8.md", "können"),
    ("unstructured/file_we_dont_want_imported", "wombat"),
    ("unstructured/fake-power-point-malformed.pptx", "Test Slide"),
    ("unstructured/pdf/copy-protected.pdf", "LayoutParser"),
    ("unstructured/eml/fake-email-utf-16.eml", "test email"),
]


@pytest.mark.parametrize(("rel", "expected"), FORMATS, ids=[f[0] for f in FORMATS])
def test_format_gives_its_text(
    loader: UnstructuredLoader, docs_dir: Path, rel: str, expected: str
) -> None:
    elements = loader.load(docs_dir / rel)
    text = "\n".join(e.text for e in elements)
    assert expected.lower() in text.lower()


def test_pdf_pages_and_sections(loader: UnstructuredLoader, docs_dir: Path) -> None:
    elements = loader.load(docs_dir / "unstructured/pdf/layout-parser-paper-fast.pdf")
    assert {e.page for e in elements} == {1, 2}
    assert any(e.section for e in elements)


def test_markdown_headings_become_sections(loader: UnstructuredLoader, docs_dir: Path) -> None:
    elements = loader.load(docs_dir / "zh/chatchat/大模型指令对齐训练原理.md")
    assert elements[0].category == "Title"
    assert all(e.section[:1] == elements[0].section[:1] for e in elements)


@needs_soffice
@pytest.mark.parametrize("rel", ["unstructured/fake.doc", "unstructured/fake-power-point.ppt"])
def test_legacy_office_with_libreoffice(
    loader: UnstructuredLoader, docs_dir: Path, rel: str
) -> None:
    text = " ".join(e.text for e in loader.load(docs_dir / rel))
    assert "Lorem ipsum" in text or "Adding a Bullet Slide" in text


@needs_tesseract
def test_image_ocr_reads_chinese(loader: UnstructuredLoader, docs_dir: Path) -> None:
    text = "".join(e.text for e in loader.load(docs_dir / "unstructured/img/chi_sim_image.jpeg"))
    assert sum("\u4e00" <= c <= "\u9fff" for c in text) > 20


@needs_tesseract
def test_textless_pdf_falls_back_to_ocr(loader: UnstructuredLoader, docs_dir: Path) -> None:
    text = " ".join(e.text for e in loader.load(docs_dir / "unstructured/pdf/single_table.pdf"))
    assert "Cars" in text or "Lorem" in text or len(text) > 50


def test_drawing_heavy_pdf_keeps_its_text_layer(
    loader: UnstructuredLoader, docs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Page 6 carries ~49 000 vector-drawing operators. unstructured alone flags the whole file
    # "too complex", `fast` returns nothing and the file would go to OCR (minutes for 76 pages).
    # With no tesseract on PATH, an OCR fallback would raise: text here means the text layer.
    monkeypatch.setenv("PATH", str(tmp_path))
    elements = loader.load(docs_dir / "unstructured/pdf/failure-after-repair.pdf")
    pages = {e.page for e in elements}
    assert len(pages) > 70 and max(p or 0 for p in pages) == 76
    text = " ".join(e.text for e in elements)
    assert "Understanding Breast Cancer" in text
    assert "Cancer Council" in text


ERRORS = [
    ("unstructured/pdf/password.pdf", CorruptFileError, "password-protected"),
    ("unstructured/password_protected.xlsx", CorruptFileError, "password-protected"),
    ("unstructured/empty.txt", EmptyDocumentError, "no text"),
    ("unstructured/fake-text-all-whitespace.txt", EmptyDocumentError, "no text"),
    ("unstructured/eml/empty.eml", EmptyDocumentError, "no text"),
]


@pytest.mark.parametrize(("rel", "error", "reason"), ERRORS, ids=[e[0] for e in ERRORS])
def test_odd_file_gets_a_clear_error(
    loader: UnstructuredLoader, docs_dir: Path, rel: str, error: type[IngestError], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        loader.load(docs_dir / rel)


def test_corrupt_file_is_reported_not_raised_raw(
    loader: UnstructuredLoader, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(CorruptFileError, match="not a valid .docx"):
        loader.load(broken)


def test_rotated_pdf_page_gives_text(loader: UnstructuredLoader, docs_dir: Path) -> None:
    # pdfminer reads the 90°-rotated page letter by letter ("H e l l o"): text, but spaced.
    text = "".join(e.text for e in loader.load(docs_dir / "unstructured/rotated-page-90.pdf"))
    assert "World" in text.replace(" ", "")


def test_missing_tool_error_names_the_tool(
    loader: UnstructuredLoader, docs_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A PATH without tesseract: the OCR fallback must say what to install.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingToolError, match="tesseract"):
        loader.load(docs_dir / "unstructured/pdf/single_table.pdf")
