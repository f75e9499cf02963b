"""The service on Milvus Lite (real, embedded): knowledge bases as collections, uploads,
questions across knowledge bases, deletes gone at once, a knowledge base dropped."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ADMIN, DATA, GUIDE, upload
from tests.support.api_server import ApiServer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pymilvus") is None, reason="pymilvus is not installed"
)


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data_dir = tmp_path_factory.mktemp("milvus") / "index"
    settings = {"RAG_API__KEYS": [ADMIN], "RAG_STORE__BACKEND": "milvus"}
    with ApiServer(data_dir, settings) as server, server.client(ADMIN) as client:
        assert upload(client, "default", [GUIDE / "user-guide.md"])["state"] == "done"
        assert (
            client.post("/v1/kbs", json={"name": "it", "description": "IT help"}).status_code == 201
        )
        assert upload(client, "it", sorted(DATA.glob("it-*.md")))["state"] == "done"
        yield client


def test_questions_across_knowledge_bases(milvus: httpx.Client) -> None:
    body = milvus.post(
        "/v1/retrieve", json={"question": "How do I reset my VPN token?", "kb": ["default", "it"]}
    ).json()
    assert body["hits"][0]["kb"] == "it" and body["hits"][0]["source"] == "it-vpn.md"
    answer = milvus.post(
        "/v1/query", json={"question": "How do I remove a document from the index?"}
    ).json()
    assert "rag delete" in answer["answer"] and answer["sources"][0]["kb"] == "default"


def test_delete_a_document_and_a_knowledge_base(milvus: httpx.Client) -> None:
    docs = milvus.get("/v1/kbs/it/documents").json()["documents"]
    vpn = next(d for d in docs if d["source"] == "it-vpn.md")
    assert milvus.delete(f"/v1/kbs/it/documents/{vpn['doc_id']}").status_code == 204
    hits = milvus.post("/v1/retrieve", json={"question": "WireGuard VPN token", "kb": "it"}).json()[
        "hits"
    ]
    assert all(h["doc_id"] != vpn["doc_id"] for h in hits)
    assert milvus.delete("/v1/kbs/it").status_code == 204
    assert milvus.get("/v1/kbs/it").status_code == 404
    assert [m["id"] for m in milvus.get("/v1/models").json()["data"]] == ["rag:default", "rag:auto"]
