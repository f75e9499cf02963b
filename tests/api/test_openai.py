"""The OpenAI-compatible endpoint through the official `openai` client: models, chat
completions streamed and not, with the references in both."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.api.conftest import ADMIN
from tests.support.api_server import ApiServer

QUESTION = "How do I remove a document from the index?"


@pytest.fixture
def client(service: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{service.url}/v1", api_key=ADMIN, max_retries=0)


def test_a_model_per_knowledge_base(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"rag:default", "rag:hr", "rag:it", "rag:auto"} <= set(ids)


def test_one_model_and_errors_as_openai_answers_them(client: openai.OpenAI) -> None:
    assert client.models.retrieve("rag:hr").id == "rag:hr"
    assert client.models.retrieve("rag:auto").id == "rag:auto"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("rag:nope")
    assert missing.value.code == "model_not_found" and "rag:hr" in missing.value.message
    # A body that does not validate: 400 invalid_request_error naming the field, as OpenAI.
    with pytest.raises(openai.BadRequestError) as invalid:
        client.chat.completions.create(model="rag:default", messages=[], max_tokens=16)
    body = invalid.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    assert body["param"] == "messages" and invalid.value.code == "invalid_request"


def test_a_refusal_is_logged_with_its_code_and_request_id(service: ApiServer) -> None:
    with service.client(ADMIN) as client:
        body = {"model": "rag:default", "messages": [{"role": "user", "content": QUESTION}]}
        refused = client.post(
            "/v1/chat/completions",
            json={**body, "n": 3},
            headers={"X-Request-ID": "refused-n-3"},
        )
    assert refused.status_code == 400
    log = service.log.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in log.splitlines() if "refused-n-3" in line]
    assert any("400 unsupported_field: n: only one choice" in line for line in lines), lines
    assert any("POST /v1/chat/completions 400" in line for line in lines), lines
    assert '"POST /v1/chat/completions HTTP/1.1" 400' not in log  # uvicorn's own: no request id


def test_invalid_json_is_named(service: ApiServer) -> None:
    with service.client(ADMIN) as client:
        response = client.post(
            "/v1/chat/completions",
            content=b'{"model": "rag:default",',
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("the body is not valid JSON") and "0:" not in message


def test_chat_completion_with_references(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="rag:default",
        messages=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_tokens=16,
        seed=1,
        user="someone",  # an OpenAI field the service ignores
    )
    content = reply.choices[0].message.content or ""
    references = reply.model_extra["references"]  # type: ignore[index]
    assert references and references[0]["kb"] == "default"
    assert "\n\nSources:\n[" in content  # the numbered list appended to the message
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0


def test_streamed_chat_completion_ends_with_the_references(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="rag:auto",
        messages=[
            {"role": "user", "content": "What is the leave policy?"},
            {"role": "assistant", "content": "Employees get 25 days."},
            {"role": "user", "content": "How many unused leave days carry over?"},
        ],
        stream=True,
        max_tokens=16,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    references = last.model_extra["references"]  # type: ignore[index]
    assert references and "Sources:" in text
    assert all(r["kb"] in ("hr", "default", "it") for r in references)


def test_unsupported_fields_are_named(service: ApiServer) -> None:
    with service.client(ADMIN) as client:
        base = {"model": "rag:default", "messages": [{"role": "user", "content": QUESTION}]}
        tool = [{"type": "function", "function": {"name": "web_search", "parameters": {}}}]
        refused = (
            ("n", {"n": 2}),
            ("tool_choice", {"tools": tool, "tool_choice": "required"}),
            ("tool_choice", {"tools": tool, "tool_choice": {"type": "function"}}),
            ("logprobs", {"logprobs": True}),
        )
        for field, extra in refused:
            response = client.post("/v1/chat/completions", json={**base, **extra})
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["code"] == "unsupported_field" and error["message"].startswith(field)
        for choice in ({}, {"tool_choice": "auto"}, {"tool_choice": "none"}):
            # As Open WebUI's page asks: tools offered, none required: an ordinary answer.
            offered = client.post("/v1/chat/completions", json={**base, "tools": tool, **choice})
            assert offered.status_code == 200, offered.text
            assert offered.json()["choices"][0]["message"]["content"]
        unknown = client.post("/v1/chat/completions", json={**base, "model": "gpt-4"})
        assert unknown.status_code == 404 and "rag:default" in unknown.json()["error"]["message"]
        ignored = client.post(
            "/v1/chat/completions",
            json={**base, "stream_options": {"include_usage": True}, "metadata": {"a": "b"}},
        )
        assert ignored.status_code == 200


def test_references_only_as_a_field_when_asked(service: ApiServer) -> None:
    with httpx.Client(base_url=service.url, headers={"X-API-Key": ADMIN}, timeout=60) as client:
        body = client.post(
            "/v1/chat/completions",
            json={
                "model": "rag:default",
                "messages": [{"role": "user", "content": QUESTION}],
                "references": False,
            },
        ).json()
    assert "Sources:" not in body["choices"][0]["message"]["content"]
    assert body["references"]


def test_a_stream_carries_open_webui_source_events_and_its_warnings(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model="rag:hr",
        messages=[{"role": "user", "content": "How many days of annual leave?"}],
        stream=True,
        max_tokens=16,
    )
    chunks = list(stream)
    events = [c.model_extra["event"] for c in chunks if (c.model_extra or {}).get("event")]
    references = chunks[-1].model_extra["references"]  # type: ignore[index]
    assert [e["type"] for e in events] == ["source"] * len(references) and events
    first = events[0]["data"]
    assert first["source"]["name"].startswith(f"[{references[0]['n']}] ")
    assert first["document"] == [references[0]["text"]]
    assert first["distances"] == [references[0]["score"]]
    assert first["metadata"][0]["kb"] == "hr"
    warnings = chunks[-1].model_extra["warnings"]  # type: ignore[index]
    assert any("cut at max_tokens (16)" in w for w in warnings)  # the last chunk says why


def test_the_sources_list_shows_file_names_once_each_in_the_answers_language() -> None:
    from api.routes.openai import references_text
    from api.schemas import Source

    def ref(n: int, source: str, section: str = "Leave") -> Source:
        return Source(
            n=n,
            kb="hr",
            doc_id="d",
            source=source,
            page=None,
            section=section,
            score=0.5,
            text="t",
        )

    refs = [
        ref(1, "/srv/docs/handbook.md"),
        ref(2, "/srv/docs/handbook.md"),  # a second chunk of the same section
        ref(3, "notes.zip!a.txt", section=""),
    ]
    english = references_text(refs, "Employees get 25 days. [1]")
    assert english == ("\n\nSources:\n[1] [2] handbook.md, § Leave (hr)\n[3] notes.zip!a.txt (hr)")
    assert "/srv" not in english
    assert references_text(refs, "员工每年有二十五天年假。[1]").startswith("\n\n来源：\n")
