"""Answers written by a served model from the numbered context, streamed, with citations
checked as they stream.

`write()` gives the text as it arrives (markers that point to no source are already taken
out) and fills a `Draft` with the sources it cites, the tokens and any warnings; the
pipeline's `Answering` turns both into the `Answer`. Synthesis is `stuff` (every block in
one prompt), `refine` or `map_reduce` (`rag.generate.synthesis`).

Example:
    >>> generator = LLMGenerator(backend, PromptSet.default(), GenerationParams())  # doctest: +SKIP
    >>> draft = Draft()
    >>> for piece in generator.write("how many leave days?", hits, draft=draft):  # doctest: +SKIP
    ...     print(piece, end="")
    >>> draft.cited  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence

from rag.config import GenerationParams
from rag.errors import ConfigError
from rag.generate.base import REPLY_ALLOWANCE, ChatBackend
from rag.generate.citations import check_citations
from rag.generate.prompts import PromptSet, context_block
from rag.generate.synthesis import SYNTHESES, Draft, Synthesis, Task
from rag.generate.tokens import EstimatedCounter, TokenCounter, prompt_tokens
from rag.registry import build
from rag.types import Hit

__all__ = ["CitationFilter", "Draft", "LLMGenerator"]

_PARTIAL = re.compile(r"\[[\d\s,，、]*\Z")


class CitationFilter:
    """Takes streamed pieces; gives back text with markers to missing sources removed.

    A `[` is held back until it is clear whether it starts a marker."""

    def __init__(self, sources: int) -> None:
        self._sources = sources
        self._held = ""
        self.removed = 0
        self.cited: list[int] = []

    def feed(self, piece: str) -> str:
        text = self._held + piece
        start = text.rfind("[")
        if start == -1 or not _PARTIAL.match(text, start):
            start = len(text)
        # Trailing spaces wait too: a marker removed next may take the space before it.
        while start > 0 and text[start - 1] in " \t":
            start -= 1
        self._held, text = text[start:], text[:start]
        return self._check(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._check(text)

    def _check(self, text: str) -> str:
        checked = check_citations(text, self._sources)
        self.removed += checked.removed
        self.cited += [n for n in checked.cited if n not in self.cited]
        return checked.text


class LLMGenerator:
    """Answers from numbered context blocks with a synthesis strategy (`stuff`, `refine`,
    `map_reduce`; see `rag.generate.synthesis`)."""

    def __init__(
        self,
        backend: ChatBackend,
        prompts: PromptSet,
        params: GenerationParams,
        language: str = "auto",
        synthesis: str = "stuff",
        counter: TokenCounter | None = None,
        context_window: int = 4096,
        parallel: int = 4,
    ) -> None:
        self.backend, self._prompts, self._params, self._language = (
            backend,
            prompts,
            params,
            language,
        )
        self._synthesis: Synthesis = build(SYNTHESES, "generator.synthesis", synthesis, parallel)
        self._counter: TokenCounter = counter or EstimatedCounter()
        self._window = context_window

    @property
    def counter(self) -> TokenCounter:
        """How prompt tokens are counted (the model's tokenizer, or the estimate)."""
        return self._counter

    def _reply(self, params: GenerationParams | None) -> int:
        """Tokens kept for the answer: this request's max_tokens, else the configured."""
        return (params or self._params).max_tokens or REPLY_ALLOWANCE

    def pack(
        self,
        question: str,
        hits: Sequence[Hit],
        compress: Callable[[int], Sequence[Hit]],
        params: GenerationParams | None = None,
    ) -> tuple[list[Hit], list[str]]:
        """The context for `question`: `compress(budget)` packs the hits' text into the
        tokens the window leaves after the prompt, the hits' headers and the answer; if the
        packed blocks still do not fit (a tokenizer counts differently piece by piece), the
        weakest are left out until they do, with a warning saying so. The prompt template
        is counted once without context and each block once; nothing is rendered twice.

        Raises:
            ConfigError: The window leaves no room for any context.
        """
        limit = self._window - self._reply(params)
        bare = prompt_tokens(self._counter, self.messages(question, []))
        headers = self._counter.count(
            ["\n\n" + context_block(n, _where(h), "") for n, h in enumerate(hits, 1)]
        )
        room = limit - bare - sum(headers)
        if room <= 0:
            raise ConfigError(
                f"generator.context_window ({self._window}) leaves no room for context after "
                f"the prompt and max_tokens ({self._reply(params)}); raise the window (up "
                "to the model's) or lower generator.params.max_tokens"
            )
        packed = list(compress(room))
        # Each block counted with the separator before it: a sum that is never below the
        # count of the joined text for the tokenizers we know (a piece starts a new word).
        sizes = self._counter.count(["\n\n" + b for b in _blocks(packed)])
        kept, total = list(range(len(packed))), bare + sum(sizes)
        while kept and total > limit:
            weakest = min(kept, key=lambda i: packed[i].score)
            kept.remove(weakest)
            total -= sizes[weakest]
        fitted = [packed[i] for i in kept]
        if len(kept) == len(packed):
            return fitted, []
        return fitted, [
            f"{len(packed) - len(kept)} of {len(packed)} context passages left out to fit "
            f"the model's window ({self._window} tokens)"
        ]

    def messages(self, question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
        """The `stuff` prompt for `question` over `hits`."""
        return self._prompts.messages(question, _blocks(hits), self._language)

    def write(
        self,
        question: str,
        hits: Sequence[Hit],
        params: GenerationParams | None = None,
        draft: Draft | None = None,
    ) -> Generator[str, None, None]:
        """The answer's text as the model writes it, markers that point to no source taken
        out; `draft` gets the sources cited, the tokens and the warnings as it goes. The
        request is sent when iteration starts; closing the iterator closes it.

        Raises (while iterating):
            ModelUnreachableError: The server did not answer (after retries).
            GenerationError: The server refused the request or broke off.
        """
        draft = draft if draft is not None else Draft()
        task = Task(
            self.backend,
            self._prompts,
            question,
            _blocks(hits),
            params or self._params,
            self._language,
            self._counter,
            draft,
        )
        citations = CitationFilter(len(hits))
        pieces = self._synthesis.write(task)
        try:
            for piece in pieces:
                text = citations.feed(piece)
                if text:
                    yield text
            tail = citations.flush()
            if tail:
                yield tail
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            draft.cited, draft.invalid_citations = citations.cited, citations.removed


def _blocks(hits: Sequence[Hit]) -> list[str]:
    return [context_block(n, _where(hit), hit.chunk.text) for n, hit in enumerate(hits, 1)]


def _where(hit: Hit) -> str:
    chunk = hit.chunk
    parts = [chunk.source]
    if chunk.page:
        parts.append(f"p. {chunk.page}")
    if chunk.section:
        parts.append(chunk.section)
    return ", ".join(parts)
