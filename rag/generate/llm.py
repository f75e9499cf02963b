"""Answers written by a served model from the numbered context, streamed, with citations
checked as they stream.

`stream()` returns an `AnswerStream`: iterate it for the text as it arrives (markers that
point to no source are already taken out), then read `.answer` for the `Answer` with the
sources it cites and any warnings. Synthesis is `stuff` (every block in one prompt),
`refine` or `map_reduce` (`rag.generate.synthesis`).

Example:
    >>> generator = LLMGenerator(backend, PromptSet.default(), GenerationParams())  # doctest: +SKIP
    >>> stream = generator.stream("how many leave days?", hits)  # doctest: +SKIP
    >>> for piece in stream: print(piece, end="")  # doctest: +SKIP
    >>> stream.answer.cited  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from rag.config import GenerationParams
from rag.errors import ConfigError
from rag.generate.base import REPLY_ALLOWANCE, ChatBackend
from rag.generate.citations import check_citations
from rag.generate.prompts import PromptSet, context_block
from rag.generate.synthesis import SYNTHESES, Synthesis, Task
from rag.generate.tokens import EstimatedCounter, TokenCounter, prompt_tokens
from rag.registry import build
from rag.types import Answer, Citation, Hit

__all__ = ["AnswerStream", "CitationFilter", "LLMGenerator"]

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


class AnswerStream:
    """Iterate for the answer text; `.answer` once the iteration is done."""

    def __init__(
        self,
        pieces: Iterator[str],
        hits: Sequence[Hit],
        started: float,
        warnings: list[str] | None = None,
    ) -> None:
        self._pieces, self._hits, self._started = pieces, hits, started
        self._warnings = warnings if warnings is not None else []
        self._filter = CitationFilter(len(hits))
        self._text: list[str] = []
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            out = self._filter.feed(piece)
            if out:
                self._text.append(out)
                yield out
        tail = self._filter.flush()
        if tail:
            self._text.append(tail)
            yield tail
        self._finish()

    def _finish(self) -> None:
        text = "".join(self._text).strip()
        elapsed = (time.perf_counter() - self._started) * 1000
        self._answer = Answer(
            text,
            tuple(Citation(n, hit) for n, hit in enumerate(self._hits, 1)),
            timings_ms={"generate": elapsed},
            cited=tuple(self._filter.cited),
            invalid_citations=self._filter.removed,
            warnings=tuple(dict.fromkeys(self._warnings)),
        )

    @property
    def answer(self) -> Answer:
        """The finished answer (iterates the rest of the stream first if needed)."""
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer


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

    def _room(self, question: str, params: GenerationParams | None) -> int:
        """Tokens left for context blocks in the window, after the prompt and the answer."""
        reply = self._reply(params)
        bare = prompt_tokens(self._counter, self.messages(question, []))
        return self._window - reply - bare

    def context_budget(
        self, question: str, hits: Sequence[Hit], params: GenerationParams | None = None
    ) -> int:
        """Tokens the context text may take so that the prompt for `question` with these
        hits' headers, and the answer, fit the model's window.

        Raises:
            ConfigError: The window leaves no room for any context.
        """
        headers = self._counter.count(
            [context_block(n, _where(h), "") for n, h in enumerate(hits, 1)]
        )
        room = self._room(question, params) - sum(headers)
        if room <= 0:
            raise ConfigError(
                f"generator.context_window ({self._window}) leaves no room for context after "
                f"the prompt and max_tokens ({self._reply(params)}); raise the window (up "
                "to the model's) or lower generator.params.max_tokens"
            )
        return room

    def fit(
        self, question: str, hits: Sequence[Hit], params: GenerationParams | None = None
    ) -> tuple[list[Hit], list[str]]:
        """The hits whose prompt fits the window: the weakest are left out until it does,
        with a warning saying so."""
        kept = list(hits)
        limit = self._window - self._reply(params)
        while kept and prompt_tokens(self._counter, self.messages(question, kept)) > limit:
            kept.remove(min(kept, key=lambda h: h.score))
        if len(kept) == len(hits):
            return kept, []
        return kept, [
            f"{len(hits) - len(kept)} of {len(hits)} context passages left out to fit the "
            f"model's window ({self._window} tokens)"
        ]

    def messages(self, question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
        """The `stuff` prompt for `question` over `hits`."""
        return self._prompts.messages(question, _blocks(hits), self._language)

    def stream(
        self, question: str, hits: Sequence[Hit], params: GenerationParams | None = None
    ) -> AnswerStream:
        """The answer as it is written. The request is sent when iteration starts.

        Raises (while iterating):
            ModelUnreachableError: The server did not answer (after retries).
            GenerationError: The server refused the request or broke off.
        """
        started = time.perf_counter()
        warnings: list[str] = []
        task = Task(
            self.backend,
            self._prompts,
            question,
            _blocks(hits),
            params or self._params,
            self._language,
            warnings.append,
        )
        return AnswerStream(self._synthesis.write(task), hits, started, warnings)

    def generate(self, question: str, hits: Sequence[Hit]) -> Answer:
        return self.stream(question, hits).answer


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
