"""Slow benchmark (`pytest -m slow -s tests/generate/test_generation_speed.py`): what our
generation layer adds on top of the model server, against the real llama.cpp server and
the tiny model, measured in one run and printed (not asserted beyond sanity).

1. Streaming: the bare `openai` client against `OpenAIBackend` (retries, breaker, citation
   bookkeeping off), time to first piece and to the end, same requests.
2. Token counting for packing: the model's tokenizer against the estimate, per prompt.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import openai
import pytest

from rag.config import GenerationParams, GeneratorConfig
from rag.generate.openai_backend import OpenAIBackend
from rag.generate.tokens import EstimatedCounter, ModelTokenCounter, prompt_tokens
from tests.generate.conftest import MODEL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROUNDS = 30
MESSAGES = [{"role": "user", "content": "How many days of paid leave do employees get?"}]
PARAMS = GenerationParams(temperature=0.0, max_tokens=32, seed=1)


def _p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


def test_streaming_overhead(llama_server: str) -> None:
    client = openai.OpenAI(base_url=llama_server, api_key="x", max_retries=0)
    ours = OpenAIBackend(GeneratorConfig(backend="openai", base_url=llama_server, model=MODEL))
    bare_first, bare_total, our_first, our_total = [], [], [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, temperature=0.0, max_tokens=32, seed=1
        )
        first = None
        for event in stream:
            if first is None and event.choices and event.choices[0].delta.content:
                first = time.perf_counter()
        bare_first.append((first or time.perf_counter()) - started)
        bare_total.append(time.perf_counter() - started)

        started = time.perf_counter()
        first = None
        for _piece in ours.stream(MESSAGES, PARAMS, warn=lambda message: None):
            first = first or time.perf_counter()
        our_first.append((first or time.perf_counter()) - started)
        our_total.append(time.perf_counter() - started)
    print(
        f"\nstreaming, {ROUNDS} requests of 32 tokens, p50 ms: bare client first piece "
        f"{_p50(bare_first):.1f}, end {_p50(bare_total):.1f}; OpenAIBackend first piece "
        f"{_p50(our_first):.1f}, end {_p50(our_total):.1f}; ratio (end) "
        f"{_p50(our_total) / _p50(bare_total):.2f}"
    )
    assert _p50(our_total) > 0


def test_token_counting_cost(tiny_tokenizer: Path) -> None:
    guide = Path(__file__).resolve().parents[2] / "examples" / "guide"
    text = (guide / "user-guide.md").read_text(encoding="utf-8")
    text += (guide / "用户指南.md").read_text(encoding="utf-8")
    messages = [{"role": "system", "content": "Answer from the context."}]
    messages.append({"role": "user", "content": text})
    exact, estimate = ModelTokenCounter.load(str(tiny_tokenizer)), EstimatedCounter()
    timings = {}
    for name, counter in (("tokenizer", exact), ("estimate", estimate)):
        runs = []
        for _ in range(50):
            started = time.perf_counter()
            prompt_tokens(counter, messages)
            runs.append(time.perf_counter() - started)
        timings[name] = _p50(runs)
    print(
        f"\ncounting a {len(text)}-character prompt, p50 ms: tokenizer {timings['tokenizer']:.2f} "
        f"({prompt_tokens(exact, messages)} tokens), estimate {timings['estimate']:.2f} "
        f"({prompt_tokens(estimate, messages)} tokens)"
    )
    assert timings["tokenizer"] > 0
