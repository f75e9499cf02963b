"""Synthesis strategies (stuff, refine, map_reduce): what each sends, in which order, and
that the numbered sources keep their numbers. Scripted replies come from the Ollama
STAND-IN (tests/support/ollama_standin.py); the call pattern is also checked against the
real llama.cpp server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from rag.config import GenerationParams, GeneratorConfig
from rag.errors import GenerationError
from rag.generate.llm import Draft, LLMGenerator
from rag.generate.ollama_backend import OllamaBackend
from rag.generate.openai_backend import OpenAIBackend
from rag.generate.prompts import PromptSet
from rag.generate.tokens import EstimatedCounter, prompt_tokens
from rag.types import Chunk, Hit
from tests.generate.conftest import MODEL
from tests.support.ollama_standin import OllamaStandIn

FACTS = [
    "Employees get twenty days of paid leave a year.",
    "The cafeteria opens at eight.",
    "Unused leave days carry over until March.",
]
QUESTION = "How much leave do employees get?"


def _hits() -> list[Hit]:
    return [
        Hit(Chunk(f"c{i}", f"d{i}", "v", text, 0, f"doc{i}.md"), 1.0 - i / 10)
        for i, text in enumerate(FACTS)
    ]


def _scripted(messages: list[dict[str, Any]]) -> str:
    """Map: cite the one block, or NONE for the cafeteria. Otherwise: quote what came in."""
    user = messages[-1]["content"]
    if "reply with the single word NONE" in user:
        n = re.search(r"^\[(\d+)\]", user.split("Context:\n\n")[1]).group(1)  # type: ignore[union-attr]
        return "NONE" if "cafeteria" in user else f"Block {n} says so [{n}]."
    if "Partial answers" in user:
        return "Combined: " + " ".join(re.findall(r"^- (.*)$", user, re.M)) + " [9]"
    if "The answer so far" in user:
        so_far = user.split("The answer so far, from earlier passages:\n")[1].split("\n")[0]
        n = re.search(r"One more passage:\n\n\[(\d+)\]", user).group(1)  # type: ignore[union-attr]
        return f"{so_far} +[{n}]"
    return "First [1]."


@pytest.fixture
def scripted() -> Iterator[OllamaStandIn]:
    with OllamaStandIn() as server:
        server.add_model("security")
        server.reply = _scripted
        yield server


def _answer(generator: LLMGenerator) -> tuple[str, Draft]:
    draft = Draft()
    return "".join(generator.write(QUESTION, _hits(), draft=draft)).strip(), draft


def _generator(server: OllamaStandIn, synthesis: str) -> LLMGenerator:
    config = GeneratorConfig(backend="ollama", base_url=server.url, model="security")
    backend = OllamaBackend(config, EstimatedCounter())
    return LLMGenerator(backend, PromptSet.default(), GenerationParams(), "auto", synthesis)


def test_stuff_sends_every_block_at_once(scripted: OllamaStandIn) -> None:
    text, draft = _answer(_generator(scripted, "stuff"))
    assert len(scripted.chats) == 1
    prompt = scripted.chats[0]["messages"][-1]["content"]
    assert all(f"[{n}] doc{n - 1}.md" in prompt for n in (1, 2, 3))
    assert text == "First [1]." and draft.cited == [1]


def test_refine_walks_the_blocks_in_order(scripted: OllamaStandIn) -> None:
    text, draft = _answer(_generator(scripted, "refine"))
    prompts = [c["messages"][-1]["content"] for c in scripted.chats]
    assert len(prompts) == 3
    assert "[1] doc0.md" in prompts[0] and "[2]" not in prompts[0]
    assert "First [1]." in prompts[1] and "[2] doc1.md" in prompts[1]
    assert "First [1]. +[2]" in prompts[2] and "[3] doc2.md" in prompts[2]
    assert text == "First [1]. +[2] +[3]" and draft.cited == [1, 2, 3]
    # Every call's tokens: three prompts sent, three replies.
    counter = EstimatedCounter()
    sent = sum(prompt_tokens(counter, c["messages"]) for c in scripted.chats)
    assert draft.prompt_tokens == sent


def test_map_reduce_drops_blocks_without_the_answer(scripted: OllamaStandIn) -> None:
    text, draft = _answer(_generator(scripted, "map_reduce"))
    prompts = [c["messages"][-1]["content"] for c in scripted.chats]
    assert len(prompts) == 4
    maps = sorted(p for p in prompts if "single word NONE" in p)
    assert len(maps) == 3 and all(sum(f"[{n}] doc" in p for n in (1, 2, 3)) == 1 for p in maps)
    reduce = prompts[-1]
    assert "Block 1 says so [1]." in reduce and "Block 3 says so [3]." in reduce
    assert "NONE" not in reduce.split("Question:")[0]
    # [9] points to no source: removed and counted.
    assert text == "Combined: Block 1 says so [1]. Block 3 says so [3]."
    assert draft.cited == [1, 3] and draft.invalid_citations == 1


def test_unknown_synthesis_is_a_config_error(scripted: OllamaStandIn) -> None:
    with pytest.raises(Exception, match="generator.synthesis must be one of"):
        _generator(scripted, "summarise")


class _Spy:
    """Passes every call to the real backend, keeping the prompts."""

    def __init__(self, backend: OpenAIBackend) -> None:
        self._backend, self.name, self.prompts = backend, backend.name, []  # type: ignore[var-annotated]

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        params: GenerationParams,
        warn: Callable[[str], None] | None = None,
    ) -> Iterator[str]:
        self.prompts.append(messages[-1]["content"])
        return self._backend.stream(messages, params, warn)

    def models(self) -> Any:
        return self._backend.models()

    def context_length(self, model: str) -> int | None:
        return None

    def complete(self, prompt: str, *, max_tokens: int, timeout_s: float) -> str:
        return self._backend.complete(prompt, max_tokens=max_tokens, timeout_s=timeout_s)


@pytest.mark.parametrize(("synthesis", "calls"), [("stuff", 1), ("refine", 3), ("map_reduce", 4)])
def test_strategies_against_the_real_server(llama_server: str, synthesis: str, calls: int) -> None:
    config = GeneratorConfig(backend="openai", base_url=llama_server, model=MODEL)
    spy = _Spy(OpenAIBackend(config))
    params = GenerationParams(temperature=0.0, max_tokens=8, seed=1)
    # One call at a time: llama-cpp-python's server cuts a running answer off for a new one.
    generator = LLMGenerator(spy, PromptSet.default(), params, "auto", synthesis, parallel=1)
    draft = Draft()
    pieces = list(generator.write(QUESTION, _hits(), draft=draft))
    assert len(spy.prompts) == calls
    assert pieces and "".join(pieces).strip()
    assert draft.prompt_tokens > 0 and draft.completion_tokens > 0


def test_an_answer_cut_off_by_the_server_is_an_error_not_a_short_answer(
    llama_server: str,
) -> None:
    """llama-cpp-python's server ends a running stream when another request arrives; the
    cut stream has no finish_reason, and must not pass for a finished answer."""
    config = GeneratorConfig(backend="openai", base_url=llama_server, model=MODEL)
    params = GenerationParams(temperature=0.0, max_tokens=200, seed=1)
    generator = LLMGenerator(
        OpenAIBackend(config), PromptSet.default(), params, "auto", "map_reduce", parallel=3
    )
    with pytest.raises(GenerationError, match="without finishing it"):
        _answer(generator)


def test_a_requests_max_tokens_sizes_the_context(scripted: OllamaStandIn) -> None:
    config = GeneratorConfig(backend="ollama", base_url=scripted.url, model="security")
    backend = OllamaBackend(config, EstimatedCounter())
    generator = LLMGenerator(
        backend, PromptSet.default(), GenerationParams(max_tokens=512), context_window=2048
    )
    budgets: list[int] = []

    def budget(room: int) -> list[Hit]:
        budgets.append(room)
        return _hits()

    generator.pack(QUESTION, _hits(), budget)
    generator.pack(QUESTION, _hits(), budget, GenerationParams(max_tokens=1024))
    assert budgets[0] - budgets[1] == 512
    with pytest.raises(Exception, match=r"max_tokens \(2000\)"):
        generator.pack(QUESTION, _hits(), budget, GenerationParams(max_tokens=2000))
