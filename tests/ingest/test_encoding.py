from __future__ import annotations

from pathlib import Path

import pytest

from ingest.encoding import detect_encoding
from ingest.loaders.unstructured import UnstructuredLoader
from rag.config import ParserConfig

ZH = "# 请假制度\n\n员工每年享有十五天带薪年假。病假需要提供医生证明。\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (ZH, "gbk"),
        (ZH, "utf-16"),
        ("L'été était très chaud, un café au lait coûte 3,50 €.", "cp1252"),
        ("Grüße aus Köln, die Straße ist schön.", "latin-1"),
        ("Zażółć gęślą jaźń, to jest polski tekst o urlopie.", "cp1250"),
        (ZH, "utf-8"),
        ("Hamburgers are delicious. Annual leave is fifteen days.\n" * 5, "utf-16-le"),
        ("Hamburgers are delicious. Annual leave is fifteen days.\n" * 5, "utf-16-be"),
        ("Mostly English, with 年假 fifteen days and a café.\n" * 5, "utf-16-le"),
        (ZH * 3, "utf-16-le"),  # no BOM and few zero bytes: told by its characters
        (ZH * 3, "utf-16-be"),
        ("年假制度：员工每年享有十五天带薪年假，可以顺延到下一年。" * 3, "utf-16-le"),
        (ZH * 3, "gb18030"),
    ],
)
def test_decoded_text_round_trips(text: str, encoding: str) -> None:
    data = text.encode(encoding)
    assert data.decode(detect_encoding(data)) == text


@pytest.mark.parametrize("name", ["zh.txt", "zh.md", "zh.html", "zh.csv"])
def test_gbk_files_parse_to_chinese(tmp_path: Path, name: str) -> None:
    content = ZH if not name.endswith(".html") else f"<html><body><p>{ZH}</p></body></html>"
    if name.endswith(".csv"):
        content = "名称,天数\n年假,十五\n病假,三十\n"
    path = tmp_path / name
    path.write_bytes(content.encode("gbk"))
    loader = UnstructuredLoader(ParserConfig())
    text = "".join(e.text for e in loader.load(path))
    assert ("带薪年假" in text) or ("年假" in text and "十五" in text)


def test_csv_field_over_10_mb_is_kept_with_the_rows_after_it(tmp_path: Path) -> None:
    """unstructured's CSV reader drops such a row and every row after it, silently."""
    file = tmp_path / "notes.csv"
    file.write_text(f"name,notes\nalpha,short\nbeta,{'x' * 11_000_000}\ngamma,last row\n")
    loader = UnstructuredLoader(ParserConfig())
    text = "\n".join(e.text for e in loader.load(file))
    assert text.startswith("name notes\nalpha short\nbeta xxx")
    assert text.endswith("gamma last row")
    assert len(text) > 11_000_000
