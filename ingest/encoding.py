"""Text encoding detection for plain-text formats (TXT, Markdown, HTML, XML, CSV, ...).

unstructured guesses too, but takes charset-normalizer's first guess, which for Western
European text is often cp1250 ("trčs" for "très"). We decide: BOM, then strict UTF-8, then an
HTML/XML declaration, then BOM-less UTF-16 of CJK text, then the most coherent of the least
chaotic candidates, preferring the common legacy encodings (cp1252, GB18030 ⊃ GBK, Big5,
Shift-JIS) on ties.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["TEXT_SUFFIXES", "detect_encoding"]

TEXT_SUFFIXES = frozenset(
    {
        ".txt",
        ".text",
        ".md",
        ".markdown",
        ".html",
        ".htm",
        ".xml",
        ".csv",
        ".tsv",
        ".json",
        ".rst",
        ".org",
        "",
    }
)
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
_PREFERRED = ["cp1252", "gb18030", "gbk", "big5", "shift_jis", "euc_kr", "utf_16", "latin_1"]


def detect_encoding(data: bytes) -> str:
    """The most likely encoding of `data` (a Python codec name)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    utf16 = _utf16_without_bom(data[:4096])
    if utf16:
        return utf16
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _declared(data[:4096])
    if declared:
        return declared
    return _utf16_cjk(data[:4096]) or _guess(data)


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark, told by its zero bytes: text that is mostly ASCII or
    Latin has one in every high byte (UTF-8 would decode it, NULs and all)."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    for zeros, other, name in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros >= 0.4 * pairs and other <= 0.05 * pairs and _decodes(head[: 2 * pairs], name):
            return name
    return None


_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x3000, 0x30FF), (0xFF00, 0xFFEF))


def _utf16_cjk(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark whose text is mostly Chinese or Japanese, so it has
    few zero bytes: decoded the right way round, nearly every character is CJK, CJK
    punctuation or plain ASCII. (GB18030 or UTF-8 bytes read as UTF-16 spread over Hangul,
    surrogates and private use, far below that share.)"""
    head = head[: len(head) // 2 * 2]
    if len(head) < 16:
        return None
    for name in ("utf-16-le", "utf-16-be"):
        text = head.decode(name, "replace").rstrip("\ufffd")  # a pair cut at the end
        cjk = sum(1 for c in text if any(lo <= ord(c) <= hi for lo, hi in _CJK))
        plain = sum(1 for c in text if c in "\t\n\r" or " " <= c <= "~")
        if cjk >= 0.3 * len(text) and cjk + plain >= 0.95 * len(text):
            return name
    return None


def _declared(head: bytes) -> str | None:
    match = _DECLARED.search(head)
    if not match:
        return None
    name = match.group(1).decode("ascii").lower()
    try:
        codecs.lookup(name)
    except LookupError:
        return None
    return "gb18030" if name in {"gb2312", "gbk"} else name


def _guess(data: bytes) -> str:
    import charset_normalizer

    results = list(charset_normalizer.from_bytes(data))
    if not results:
        return "latin-1"  # decodes any byte; better than dropping the file
    least = min(r.chaos for r in results)
    close = [r for r in results if r.chaos <= least + 0.01]

    def rank(r: charset_normalizer.CharsetMatch) -> tuple[float, int]:
        name = r.encoding.lower()
        preferred = _PREFERRED.index(name) if name in _PREFERRED else len(_PREFERRED)
        return (-round(r.coherence, 2), preferred)

    winner = min(close, key=rank)
    best = winner.encoding
    single_byte_latin = best.lower().startswith(("cp125", "iso8859", "mac_", "latin", "cp8"))
    if single_byte_latin and winner.coherence == 0 and _decodes(data, "cp1252"):
        best = "cp1252"  # no language evidence either way (tiny input): take the commonest
    # GB2312/GBK text is also valid GB18030, which covers every character.
    return "gb18030" if best.lower() in {"gb2312", "gbk"} else best


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
