"""The JSON depth rule: brackets are counted outside strings only, and a document nested
more than MAX_JSON_DEPTH levels is refused before any reader recurses into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.guards import MAX_JSON_DEPTH, check_file
from rag.config import ParserConfig
from rag.errors import UnsafeFileError


def _nested(levels: int) -> str:
    return '{"a": ' * levels + '"leaf"' + "}" * levels


def test_json_depth_limit(tmp_path: Path) -> None:
    config = ParserConfig()
    at_limit = tmp_path / "at-limit.json"
    at_limit.write_text(_nested(MAX_JSON_DEPTH), encoding="utf-8")
    check_file(at_limit, config)  # allowed: exactly the limit
    assert json.loads(at_limit.read_text())  # and it is valid JSON
    over = tmp_path / "over.json"
    over.write_text(_nested(MAX_JSON_DEPTH + 1), encoding="utf-8")
    with pytest.raises(UnsafeFileError, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        check_file(over, config)


def test_brackets_inside_strings_do_not_count(tmp_path: Path) -> None:
    text = json.dumps({"note": "[" * 1000 + '\\" {{{', "list": [1, [2, {"b": "]]]"}]]})
    path = tmp_path / "strings.json"
    path.write_text(text, encoding="utf-8")
    check_file(path, ParserConfig())
    utf16 = tmp_path / "utf16.json"  # read in its own encoding, as the parser will
    utf16.write_bytes(_nested(MAX_JSON_DEPTH + 1).encode("utf-16"))
    with pytest.raises(UnsafeFileError):
        check_file(utf16, ParserConfig())
