"""Keep the text layer of PDFs that also carry heavy vector drawings.

unstructured (0.27) flags a whole PDF as "too complex" when any one page has more than 10 000
graphics operators at 20 times its text operators (a map, a chart, a vector illustration), and
then skips text extraction for every page. With the `fast` strategy that returns nothing, so a
76-page brochure with one illustrated page would go to OCR (minutes) or come back empty.

Our parser processes already bound the cost of a slow file (per-file time limit, killed
process), so we turn off only that ratio heuristic and keep unstructured's byte and array caps
against crafted content streams (CVE-2026-33123): those still flag the file.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

__all__ = ["keep_text_of_drawing_heavy_pdfs"]

logger = logging.getLogger(__name__)

_NO_GRAPHICS_LIMIT = 2**62


def keep_text_of_drawing_heavy_pdfs() -> None:
    """Disable the graphics-ratio heuristic in this parser process (idempotent)."""
    import unstructured.partition.pdf as pdf

    check = getattr(pdf, "is_pdf_too_complex", None)
    if check is None:
        logger.debug("unstructured has no is_pdf_too_complex; nothing to relax")
        return
    if getattr(check, "_rag_relaxed", False):
        return

    @functools.wraps(check)
    def relaxed(*args: Any, **kwargs: Any) -> bool:
        kwargs["max_graphics_ops"] = _NO_GRAPHICS_LIMIT
        return bool(check(*args, **kwargs))

    relaxed._rag_relaxed = True  # type: ignore[attr-defined]
    # `partition_pdf` looks the function up in its module at call time.
    pdf.is_pdf_too_complex = relaxed
