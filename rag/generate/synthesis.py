"""How the answer is written from the context blocks: the three final-prompt strategies.

- `stuff` (default): every block in one prompt; one call, streamed.
- `refine`: an answer from the first block, then one call per further block that rewrites
  the answer with it; the last call is streamed. For contexts longer than one prompt, and
  for answers that gather facts spread over many passages. Calls: one per block.
- `map_reduce`: an answer from each block alone (`parallel` calls at a time; a block
  without the answer replies NONE and is left out), then one streamed call combining them.
  Calls: one per block, plus one. The combining prompt holds up to one answer's
  max_tokens per block.

Blocks keep their numbers in every strategy, so `[n]` always means the same source.

Example:
    >>> synthesis = SYNTHESES["refine"](parallel=1)
    >>> pieces = synthesis.write(Task(backend, prompts, "how many days?", blocks,
    ...     GenerationParams(), "auto", EstimatedCounter(), Draft()))  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from rag.config import GenerationParams
from rag.generate.base import ChatBackend
from rag.generate.prompts import NOTHING, PromptSet
from rag.generate.tokens import TokenCounter, prompt_tokens

__all__ = ["SYNTHESES", "Draft", "MapReduce", "Refine", "Stuff", "Synthesis", "Task"]


@dataclass
class Draft:
    """What writing an answer gave besides its text, filled in as the text streams: the
    sources cited, the markers removed, the tokens sent and received, the warnings."""

    cited: list[int] = field(default_factory=list)
    invalid_citations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spent(self, prompt: int = 0, completion: int = 0) -> None:
        """Add one call's tokens (calls of `map_reduce` run in parallel threads)."""
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion


@dataclass(frozen=True, slots=True)
class Task:
    """One question to answer from numbered context blocks; every call's tokens (counted on
    the messages as sent, and on the reply) and the backend's warnings go to `draft`."""

    backend: ChatBackend
    prompts: PromptSet
    question: str
    blocks: Sequence[str]
    params: GenerationParams
    language: str
    counter: TokenCounter
    draft: Draft

    def stream(self, kind: str, **fields: str) -> Iterator[str]:
        messages = self.prompts.render(kind, self.question, self.language, **fields)
        self.draft.spent(prompt=prompt_tokens(self.counter, messages))
        reply: list[str] = []
        pieces = self.backend.stream(messages, self.params, self.draft.warnings.append)
        try:
            for piece in pieces:
                reply.append(piece)
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            self.draft.spent(completion=sum(self.counter.count(["".join(reply)])))

    def whole(self, kind: str, **fields: str) -> str:
        return "".join(self.stream(kind, **fields)).strip()


class Synthesis(Protocol):
    """Writes the answer's text, streaming the final call."""

    def write(self, task: Task) -> Iterator[str]:
        """The answer, piece by piece."""
        ...


class Stuff:
    """All blocks in one prompt."""

    def __init__(self, parallel: int = 1) -> None:
        pass

    def write(self, task: Task) -> Iterator[str]:
        return task.stream("user", context="\n\n".join(task.blocks))


class Refine:
    """Block by block, improving the answer."""

    def __init__(self, parallel: int = 1) -> None:
        pass

    def write(self, task: Task) -> Iterator[str]:
        first, *rest = task.blocks
        if not rest:
            yield from task.stream("user", context=first)
            return
        answer = task.whole("user", context=first)
        for block in rest[:-1]:
            answer = task.whole("refine", context=block, answer=answer)
        yield from task.stream("refine", context=rest[-1], answer=answer)


class MapReduce:
    """An answer per block, then one combining them."""

    def __init__(self, parallel: int = 4) -> None:
        self._parallel = parallel

    def write(self, task: Task) -> Iterator[str]:
        if len(task.blocks) == 1:
            yield from task.stream("user", context=task.blocks[0])
            return
        with ThreadPoolExecutor(min(self._parallel, len(task.blocks))) as pool:
            partial = list(pool.map(lambda block: task.whole("map", context=block), task.blocks))
        useful = [p for p in partial if p and p.strip(" .。").upper() != NOTHING]
        answers = "\n\n".join(f"- {p}" for p in useful) or f"({NOTHING})"
        yield from task.stream("reduce", answers=answers)


SYNTHESES: dict[str, Callable[[int], Synthesis]] = {
    "stuff": Stuff,
    "refine": Refine,
    "map_reduce": MapReduce,
}
