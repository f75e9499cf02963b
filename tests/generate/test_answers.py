"""Answers from the model: citation filtering while streaming, the pipeline streaming from
the real llama.cpp server, and the fallback to the extractive answer when it is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main
from rag.config import GenerationParams, GeneratorConfig, RagConfig
from rag.errors import GenerationError
from rag.generate.citations import check_citations
from rag.generate.llm import CitationFilter, Draft, LLMGenerator
from rag.generate.ollama_backend import OllamaBackend
from rag.generate.prompts import PromptSet
from rag.generate.tokens import EstimatedCounter, ModelTokenCounter, prompt_tokens
from rag.types import Chunk, Hit
from tests.generate.conftest import MODEL, free_port
from tests.support.app import ingest, pipeline_of
from tests.support.ollama_standin import OllamaStandIn

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
QUESTION = "How do I remove a document from the index?"


def _filtered(pieces: list[str], sources: int) -> tuple[str, CitationFilter]:
    f = CitationFilter(sources)
    return "".join(f.feed(p) for p in pieces) + f.flush(), f


@pytest.mark.parametrize(
    ("pieces", "text", "cited", "removed"),
    [
        (["Twenty days [1]."], "Twenty days [1].", [1], 0),
        (["Twenty [", "1", "] days [7", "]."], "Twenty [1] days.", [1], 1),
        (["See [2, ", "9] and [3][", "1]"], "See [2] and [3][1]", [2, 3, 1], 1),
        (["年假二十天[", "5]。可以结转[2]。"], "年假二十天。可以结转[2]。", [2], 1),
        (["an array [x] and [", "12"], "an array [x] and [12", [], 0),
        (["unfinished [", "a"], "unfinished [a", [], 0),
    ],
)
def test_citation_filter_across_piece_boundaries(
    pieces: list[str], text: str, cited: list[int], removed: int
) -> None:
    out, f = _filtered(pieces, sources=3)
    assert out == text and f.cited == cited and f.removed == removed


def test_written_answer_counts_invalid_markers_and_tokens() -> None:
    """`LLMGenerator.write` over the Ollama STAND-IN's scripted reply: markers to missing
    sources are taken out as it streams; the draft gets the cited sources and the tokens of
    the messages as sent."""
    hits = [Hit(Chunk(f"c{i}", "d", "v", "t", 0, "s.md"), 1.0) for i in range(2)]
    with OllamaStandIn() as server:
        server.add_model("security")
        server.reply = lambda messages: "Leave is 20 days [1][4]. Carry over [2]."
        config = GeneratorConfig(backend="ollama", base_url=server.url, model="security")
        counter = EstimatedCounter()
        generator = LLMGenerator(
            OllamaBackend(config, counter), PromptSet.default(), GenerationParams()
        )
        draft = Draft()
        text = "".join(generator.write(QUESTION, hits, draft=draft))
        sent = server.chats[0]["messages"]
    assert text == "Leave is 20 days [1]. Carry over [2]."
    assert draft.cited == [1, 2] and draft.invalid_citations == 1
    assert draft.prompt_tokens == prompt_tokens(counter, sent) > 0
    assert draft.completion_tokens == sum(
        counter.count(["Leave is 20 days [1][4]. Carry over [2]."])
    )
    assert check_citations("x [1][4]", 2).text == "x [1]"


@pytest.fixture
def guide_index(tmp_path: Path) -> RagConfig:
    config = RagConfig(data_dir=tmp_path / "index")
    assert ingest(config, [GUIDE]).exit_code == 0
    return config


def _with_model(config: RagConfig, base_url: str, **generator: object) -> RagConfig:
    params = GenerationParams(temperature=0.0, max_tokens=16, seed=1)
    model = GeneratorConfig(
        backend="openai",
        base_url=base_url,
        model=MODEL,
        params=params,
        **generator,  # type: ignore[arg-type]
    )
    return config.model_copy(update={"generator": model})


def test_pipeline_streams_the_model_answer(guide_index: RagConfig, llama_server: str) -> None:
    config = _with_model(guide_index, llama_server)
    with pipeline_of(config) as pipeline:
        answering = pipeline.answer(QUESTION)
        pieces = list(answering)
        answer = answering.answer
    assert len(pieces) > 1 and answer.text == "".join(pieces).strip()
    assert not answer.fallback
    assert all("cut at max_tokens (16)" in w for w in answer.warnings)
    assert {"search", "compress", "generate"} <= answer.timings_ms.keys()
    # The context is in lost-in-the-middle order for the model: best first, second best last.
    scores = [c.hit.score for c in answer.citations]
    assert scores[0] == max(scores) and scores[-1] == sorted(scores)[-2]


def test_unreachable_model_falls_back_to_the_extractive_answer(
    guide_index: RagConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = _with_model(guide_index, dead, retries=1, backoff_s=0.05)
    with pipeline_of(config) as pipeline:
        answer = pipeline.ask(QUESTION)
    assert answer.fallback and "rag delete" in answer.text and "[1]" in answer.text
    assert "could not be reached" in answer.warnings[0]

    monkeypatch.setenv("RAG_DATA_DIR", str(guide_index.data_dir))
    code = main(["ask", QUESTION, "--backend", "openai", "--model", MODEL, "--base-url", dead])
    out = capsys.readouterr()
    assert code == 3
    assert "rag delete" in out.out and "Sources:" in out.out
    assert "could not be reached" in out.err and "Traceback" not in out.err
    # One line for the user without -v: no retry log lines, the warning not twice.
    assert out.err.count("could not be reached") == 1, out.err
    assert "retrying in" not in out.err and "WARNING" not in out.err, out.err


def test_cli_streams_from_the_tiny_model(
    guide_index: RagConfig,
    llama_server: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(guide_index.data_dir))
    monkeypatch.setenv("RAG_GENERATOR__BACKEND", "openai")
    monkeypatch.setenv("RAG_GENERATOR__BASE_URL", llama_server)
    monkeypatch.setenv("RAG_GENERATOR__MODEL", MODEL)
    assert main(["ask", QUESTION, "--max-tokens", "8", "--temperature", "0"]) == 0
    out = capsys.readouterr().out
    assert "Sources:" in out and "[1] examples/guide/" in out.replace(
        str(GUIDE.parent.parent) + "/", ""
    )
    assert main(["ask", QUESTION, "--no-llm"]) == 0
    assert "rag delete" in capsys.readouterr().out


WIDE = "How do I remove a document from the index, and what does ingest do with each file?"


def test_the_models_tokenizer_packs_the_context_into_the_window(
    guide_index: RagConfig, llama_server: str, tiny_tokenizer: Path
) -> None:
    """The server's window is 2048 tokens; ten chunks in the tiny vocabulary need more."""
    config = _with_model(
        guide_index, llama_server, tokenizer=str(tiny_tokenizer), context_window=2048
    )
    config = config.model_copy(
        update={"retrieval": config.retrieval.model_copy(update={"top_k": 10})}
    )
    counter = ModelTokenCounter.load(str(tiny_tokenizer))
    with pipeline_of(config) as pipeline:
        assert pipeline.llm is not None
        answering = pipeline.answer(WIDE)
        prepared = answering.prepared
        messages = pipeline.llm.messages(WIDE, list(prepared.context))
        everything = pipeline.llm.messages(WIDE, list(prepared.trace.hits))
        answer = answering.answer
    assert prompt_tokens(counter, everything) > 2048  # what would not have fitted
    assert prompt_tokens(counter, messages) <= 2048 - 16
    assert answer.text and not answer.fallback
    # The usage is the count of the prompt as sent, with the model's tokenizer.
    assert answer.prompt_tokens == prompt_tokens(counter, messages)


def test_a_prompt_beyond_the_servers_window_is_a_clear_error(
    guide_index: RagConfig, llama_server: str
) -> None:
    """Without the tokenizer, the estimate undercounts the tiny 400-piece vocabulary; the
    llama.cpp server then answers with an empty stream, which must not pass for an answer."""
    config = _with_model(guide_index, llama_server, context_window=8192)
    # min_score 0: all 10 passages are context (the point is a prompt over the window).
    config = config.model_copy(
        update={"retrieval": config.retrieval.model_copy(update={"top_k": 10, "min_score": 0.0})}
    )
    with (
        pipeline_of(config) as pipeline,
        pytest.raises(GenerationError, match="without finishing it.*generator.tokenizer"),
    ):
        pipeline.ask(WIDE)


def test_query_rewriting_runs_through_the_real_server(
    guide_index: RagConfig, llama_server: str
) -> None:
    config = _with_model(guide_index, llama_server)
    rewrite = config.rewrite.model_copy(
        update={"strategies": ["multi_query", "hyde"], "max_tokens": 12}
    )
    with pipeline_of(config.model_copy(update={"rewrite": rewrite})) as pipeline:
        trace = pipeline.answer(QUESTION).prepared.trace
    assert trace.queries[0] == QUESTION and len(trace.queries) >= 2
    assert trace.warnings == () and trace.hits

    hurried = rewrite.model_copy(update={"timeout_s": 0.001})
    with pipeline_of(config.model_copy(update={"rewrite": hurried})) as pipeline:
        trace = pipeline.answer(QUESTION).prepared.trace
    assert list(trace.queries) == [QUESTION] and trace.hits
    assert len(trace.warnings) == 2 and "searching the question as asked" in trace.warnings[0]


def test_the_prompt_is_rendered_once_per_answer(
    guide_index: RagConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packing counts the template without context and each block once; the prompt with
    its context is rendered once, to be sent, and its tokens are the answer's usage."""
    rendered: list[str] = []
    render = PromptSet.render

    def counted(self: PromptSet, kind: str, question: str, *args: str, **fields: str) -> object:
        rendered.append(fields.get("context", ""))
        return render(self, kind, question, *args, **fields)

    monkeypatch.setattr(PromptSet, "render", counted)
    with OllamaStandIn() as server:
        server.add_model("security")
        config = guide_index.model_copy(
            update={
                "generator": GeneratorConfig(
                    backend="ollama", base_url=server.url, model="security"
                )
            }
        )
        with pipeline_of(config) as pipeline:
            answer = pipeline.ask(QUESTION)
            assert pipeline.llm is not None
            sent = server.chats[0]["messages"]
    with_context = [c for c in rendered if c]
    assert len(with_context) == 1 and with_context[0] in sent[-1]["content"]
    assert answer.prompt_tokens == prompt_tokens(pipeline.llm.counter, sent)
    assert answer.completion_tokens > 0 and not answer.fallback
