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
            {"role": "user", "content": "How many of them carry over?"},
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
        for field, value in (("n", 2), ("tools", [{"type": "function"}]), ("logprobs", True)):
            response = client.post("/v1/chat/completions", json={**base, field: value})
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert error["code"] == "unsupported_field" and error["message"].startswith(field)
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
