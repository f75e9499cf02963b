"""A hostile folder, generated: every file built the way an attacker would build it.

`write_hostile(folder, url)` writes the files and returns what each is, so a test can check
that the batch went on, no limit was passed and nothing leaked. `url` is a loopback address a
`Recorder` watches: documents reference it the ways documents reference remote things.
"""

from __future__ import annotations

import base64
import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.loopback import serving

__all__ = ["PASSWD_MARK", "SLIP_NAMES", "Recorder", "recorder", "write_hostile"]

PASSWD_MARK = "root:x:0:0"  # a line of /etc/passwd: must never reach an index
SLIP_NAMES = ("../../slipped-out.txt", "/tmp/slipped-absolute.txt", "..\\..\\slipped-win.txt")
EXTENSIONS = (
    ".pdf .docx .doc .pptx .ppt .xlsx .xls .csv .tsv .html .htm .xml .md .rst .org .txt .json "
    ".eml .msg .epub .rtf .odt .png .jpg .tiff .zip .svg"
).split()


class Recorder:
    """The paths requested from a loopback HTTP server (which must stay empty)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""


@contextmanager
def recorder() -> Iterator[Recorder]:
    """A loopback HTTP server recording every request it gets."""
    seen = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            seen.requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<!ENTITY recorded 'x'>")

        def log_message(self, *args: object) -> None:
            return

    with serving(Handler) as port:
        seen.url = f"http://127.0.0.1:{port}"
        yield seen


def write_hostile(folder: Path, url: str, *, bomb_mb: int = 60) -> dict[str, str]:
    """Write the hostile files into `folder`; returns {name: what it is}. `bomb_mb`: how far
    the zip bombs inflate (set the parser's limits below it)."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def put(name: str, data: bytes | str, what: str) -> None:
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
        made[name] = what

    put("bomb-flat.zip", _flat_bomb(bomb_mb), "zip bomb, one member")
    put("bomb-nested.zip", _nested_bomb(depth=5, width=4), "zip bomb, nested 5 levels")
    put("slip.zip", _zip({n: "slipped content" for n in SLIP_NAMES}), "zip slip names")
    put("xxe.docx", _docx_with(_XXE_DOCTYPE, "&xxe;"), "DOCX, external entity to /etc/passwd")
    put("laughs.docx", _docx_with(_LAUGHS_DOCTYPE, "&lol9;"), "DOCX, billion laughs")
    put(
        "inflating.docx",
        _docx_with("", "text", extra={"word/media/image1.png": b"\0" * bomb_mb * 10**6}),
        "DOCX whose image part inflates",
    )
    put("laughs.xml", f'<?xml version="1.0"?>{_LAUGHS_DOCTYPE}<r>&lol9;</r>', "billion laughs")
    put("xxe.xml", f'<?xml version="1.0"?>{_XXE_DOCTYPE}<r>&xxe;</r>', "external entity")
    put("nested.xml", "<a>" * 100_000 + "deep" + "</a>" * 100_000, "XML nested 100 000 deep")
    put("nested.json", "[" * 100_000 + '"deep"' + "]" * 100_000, "JSON nested 100 000 deep")
    put("remote.html", _html(url), "HTML with images, stylesheet, iframe, script from URL")
    put("remote.svg", _svg(url), "SVG with an image and a DTD from URL")
    put("remote.md", f"# Remote\n\n![image]({url}/md.png)\n\n<img src='{url}/md-raw.png'>\n", "")
    put("cyclic-xref.pdf", _pdf(cyclic=True), "PDF whose xref points to itself")
    put("javascript.pdf", _pdf(javascript=True), "PDF with JavaScript on open")
    with (folder / "sparse.txt").open("wb") as handle:
        handle.truncate(3 * 1024**3)  # 3 GB that take no disk
    made["sparse.txt"] = "sparse 3 GB file"
    os.symlink("/etc/passwd", folder / "passwd-link.txt")
    os.symlink("/etc", folder / "etc-link")
    os.mkfifo(folder / "fifo.txt")
    made.update({"passwd-link.txt": "link", "etc-link": "link", "fifo.txt": "FIFO"})
    for name in ("quote'\"s.txt", "new\nline.txt", "$(touch pwned).txt", "x" * 246 + ".txt"):
        put(name, "an ordinary sentence in a file with a hostile name", "hostile name")
    random = _random_bytes(seed=16)
    for ext in EXTENSIONS:
        put(f"random{ext}", random, "random bytes")
    put("attachment.eml", _email_with_attachment(50), "e-mail with a 50 MB attachment")
    return made


_XXE_DOCTYPE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
_LAUGHS_DOCTYPE = (
    '<!DOCTYPE r [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


def _zip(members: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def _flat_bomb(mb: int) -> bytes:
    return _zip({"zeros.txt": b"\0" * (mb * 1_000_000)})


def _nested_bomb(depth: int, width: int) -> bytes:
    data = _zip({"zeros.txt": b"0" * 1_000_000})
    for level in range(depth):
        data = _zip({f"layer{level}-{i}.zip": data for i in range(width)})
    return data


def _docx_with(doctype: str, body: str, extra: dict[str, bytes] | None = None) -> bytes:
    import docx

    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("PLACEHOLDER")
    document.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    parts = {info.filename: source.read(info) for info in source.infolist()}
    xml = parts["word/document.xml"].decode()
    head, rest = xml.split("?>", 1)
    parts["word/document.xml"] = f"{head}?>{doctype}{rest.replace('PLACEHOLDER', body)}".encode()
    return _zip({**parts, **(extra or {})})


def _html(url: str) -> str:
    return (
        f"<html><head><link rel='stylesheet' href='{url}/style.css'>"
        f"<script src='{url}/script.js'></script></head><body><h1>Remote</h1>"
        f"<p>Text beside remote things.</p><img src='{url}/image.png'>"
        f"<iframe src='{url}/frame.html'></iframe><object data='{url}/ole.bin'></object>"
        "</body></html>"
    )


def _svg(url: str) -> str:
    return (
        f'<?xml version="1.0"?><!DOCTYPE svg SYSTEM "{url}/svg.dtd">'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        f'<image xlink:href="{url}/svg-image.png" width="10" height="10"/>'
        "<text>Remote vector text</text></svg>"
    )


def _pdf(cyclic: bool = False, javascript: bool = False) -> bytes:
    """A small one-page PDF; `cyclic`: its xref's /Prev points back at itself."""
    stream = b"BT /F1 12 Tf 72 720 Td (Hostile PDF text) Tj ET"
    catalog = b"<< /Type /Catalog /Pages 2 0 R"
    if javascript:
        catalog += b" /OpenAction << /S /JavaScript /JS (app.alert('pwned');) >>"
    objects = [
        catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    prev = b" /Prev %d" % xref if cyclic else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, prev)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _random_bytes(seed: int, size: int = 64 * 1024) -> bytes:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _email_with_attachment(mb: int) -> bytes:
    payload = base64.encodebytes(_random_bytes(seed=5, size=mb * 1_000_000))
    return (
        b"From: a@example.com\nTo: b@example.com\nSubject: Large attachment\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nThe message text of a mail with a large file.\n"
        b"--B\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        b'Content-Disposition: attachment; filename="big.bin"\n\n' + payload + b"--B--\n"
    )
