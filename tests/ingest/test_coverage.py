"""A parser that drops text says so: the file is ingested with a warning naming how much of
its letters and digits came through (`ingest.coverage`). Real parsers drop Org and RST
comment blocks (pandoc, docutils); link targets, URLs and tags do not count as loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.coverage import coverage_warning
from rag.cli import main
from rag.types import Element

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
DRAFTS = "\n".join(
    f"Draft note {i}: the carry-over rule is still being discussed." for i in range(20)
)


def test_what_came_out_against_what_went_in(tmp_path: Path) -> None:
    text = "# Leave\n\n" + "Annual leave is fifteen days and carries over once. " * 10
    path = tmp_path / "leave.md"
    path.write_text(text + "\n![chart](./img/a-very-long-image-name-0123456789.png)\n")
    whole = [Element("Leave", "Title"), Element(text[9:].strip())]
    assert coverage_warning(path, whole) == ""  # the image target is not text
    half = [Element("Leave", "Title"), Element(text[9:250])]
    warning = coverage_warning(path, half)
    assert warning.startswith("only ") and "letters and digits" in warning
    assert coverage_warning(tmp_path / "x.pdf", []) == ""  # not a format we can read alone
    garbled = tmp_path / "garbled.txt"
    garbled.write_bytes(b"Annual leave is fifteen days. " * 10)
    assert "could not be decoded" in coverage_warning(garbled, [Element("Annual \ufffd leave")])


@pytest.mark.parametrize("name", sorted(p.name for p in GUIDE.glob("*.md")))
def test_real_documents_give_no_warning(name: str) -> None:
    from ingest.loaders.unstructured import UnstructuredLoader
    from rag.config import ParserConfig

    path = GUIDE / name
    assert coverage_warning(path, UnstructuredLoader(ParserConfig()).load(path)) == ""


def test_ingest_reports_dropped_comment_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.org").write_text(
        f"* Leave\n\nAnnual leave is fifteen days.\n\n#+BEGIN_COMMENT\n{DRAFTS}\n#+END_COMMENT\n"
    )
    (folder / "policy.rst").write_text(
        "Leave\n=====\n\nAnnual leave is fifteen days.\n\n..\n"
        + "\n".join(f"   {line}" for line in DRAFTS.splitlines())
        + "\n"
    )
    (folder / "plain.md").write_text("# Leave\n\nAnnual leave is fifteen days.\n" * 20)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "index"))
    assert main(["ingest", "--quiet", str(folder)]) == 0  # ingested all the same
    out = capsys.readouterr().out
    warned = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 2, out
    for line in warned:
        assert line.split(": ")[1].endswith(("policy.org", "policy.rst"))
        assert "of the text was extracted" in line and "the parser dropped the rest" in line
