"""Every route of the service, over HTTP against the real server (tests/api/conftest.py)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from httpx_sse import connect_sse

from tests.api.conftest import ADMIN, DATA, upload, wait_job
from tests.support.api_server import ApiServer

QUESTION = "How do I remove a document from the index?"


@pytest.fixture
def admin(service: ApiServer) -> httpx.Client:
    with service.client(ADMIN) as client:
        yield client


def test_health_and_readiness(service: ApiServer) -> None:
    with service.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        ready = anonymous.get("/readyz").json()
    assert ready["status"] == "ready", ready
    assert ready["checks"]["index"] == "ok" and ready["checks"]["generator"] == "ok"


def test_knowledge_bases_are_listed_with_counts(admin: httpx.Client) -> None:
    kbs = {kb["name"]: kb for kb in admin.get("/v1/kbs").json()["kbs"]}
    assert {"default", "hr", "it"} <= set(kbs)
    assert kbs["default"]["documents"] == 4 and kbs["hr"]["documents"] == 2
    assert kbs["hr"]["embedder"] == "all-MiniLM-L6-v2" and kbs["hr"]["dimension"] == 384
    assert kbs["it"]["description"].startswith("IT help desk")
    assert admin.get("/v1/kbs/hr").json()["chunks"] == kbs["hr"]["chunks"]
    missing = admin.get("/v1/kbs/nosuch")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_not_found"


def test_create_and_delete_a_knowledge_base(admin: httpx.Client) -> None:
    assert admin.post("/v1/kbs", json={"name": "scratch"}).status_code == 201
    again = admin.post("/v1/kbs", json={"name": "scratch"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "kb_exists"
    bad = admin.post("/v1/kbs", json={"name": "../evil"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    job = upload(admin, "scratch", [DATA / "it-vpn.md"])
    assert job["state"] == "done"
    assert admin.delete("/v1/kbs/scratch").status_code == 204
    assert "scratch" not in {kb["name"] for kb in admin.get("/v1/kbs").json()["kbs"]}
    assert admin.get("/v1/kbs/scratch").status_code == 404
    refused = admin.delete("/v1/kbs/default")
    assert refused.status_code == 400 and "default" in refused.json()["error"]["message"]


def test_query_with_the_model(admin: httpx.Client) -> None:
    body = admin.post("/v1/query", json={"question": QUESTION}).json()
    assert body["answer"] and not body["degraded"], body
    assert body["sources"] and body["sources"][0]["kb"] == "default"
    assert {"n", "kb", "doc_id", "source", "page", "section", "score", "text"} <= set(
        body["sources"][0]
    )
    assert {"search", "compress", "generate"} <= set(body["timings"])
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0


def test_query_extractive_with_filters_and_explain(admin: httpx.Client) -> None:
    body = admin.post(
        "/v1/query",
        json={
            "question": QUESTION,
            "generation": "none",
            "filters": {"source_prefix": "user-guide"},
            "explain": True,
        },
    ).json()
    assert "rag delete" in body["answer"] and "[1]" in body["answer"]
    assert {s["source"] for s in body["sources"]} == {"user-guide.md"}
    assert body["usage"]["total_tokens"] == 0 and not body["degraded"]
    assert body["explain"]["queries"] == [QUESTION] and body["explain"]["retrieved"]


def test_query_parameters_are_validated(admin: httpx.Client) -> None:
    for bad in (
        {"question": ""},
        {"question": "x", "top_k": 0},
        {"question": "x", "generation": {"temperature": -1}},
        {"question": "x", "generation": {"backend": "nosuch"}},
        {"question": "x", "unknown_field": 1},
    ):
        response = admin.post("/v1/query", json=bad)
        assert response.status_code in (400, 422), (bad, response.text)
        error = response.json()["error"]
        assert error["code"] in ("validation_error", "invalid_request") and error["request_id"]
        assert "Traceback" not in response.text
    blank = admin.post("/v1/query", json={"question": "  \u3000 "}).json()["error"]
    # The CLI's wording (`rag ask "  "`), not a regex.
    assert blank["message"] == "invalid request: question: the question is empty; ask something"


def test_query_streams_server_sent_events(admin: httpx.Client) -> None:
    events = []
    with connect_sse(
        admin, "POST", "/v1/query", json={"question": QUESTION, "stream": True}
    ) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in source.iter_sse():
            events.append((event.event, json.loads(event.data)))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
    assert set(kinds[1:-1]) == {"token"}
    done = events[-1][1]
    text = "".join(data["text"] for kind, data in events if kind == "token")
    assert done["answer"] == text.strip()
    assert [s["n"] for s in events[0][1]] == list(range(1, len(events[0][1]) + 1))
    assert done["sources"] and done["sources"][0]["doc_id"] == events[0][1][0]["doc_id"]


def test_a_stream_refused_before_it_starts_is_a_json_error(admin: httpx.Client) -> None:
    """Errors found before the first event are plain JSON errors, with the same codes as
    the error events a started stream ends with (tests/api/test_degraded.py)."""
    for body, status, code in (
        ({"kb": "nosuch"}, 404, "kb_not_found"),
        ({"generation": {"max_tokens": 5000}}, 400, "invalid_request"),  # over the window
    ):
        response = admin.post("/v1/query", json={"question": QUESTION, "stream": True, **body})
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


def test_retrieve_returns_every_stage_score(admin: httpx.Client) -> None:
    body = admin.post("/v1/retrieve", json={"question": QUESTION, "top_k": 3}).json()
    assert len(body["hits"]) == 3 and body["kbs"] == ["default"]
    stages = {s["stage"] for s in body["hits"][0]["stages"]}
    assert {"dense", "bm25"} <= stages
    assert body["hits"][0]["score"] >= body["hits"][1]["score"]


def test_several_knowledge_bases_are_fused(admin: httpx.Client) -> None:
    body = admin.post(
        "/v1/retrieve", json={"question": "How do I reset my VPN token?", "kb": ["hr", "it"]}
    ).json()
    assert body["kbs"] == ["hr", "it"]
    assert body["hits"][0]["kb"] == "it" and body["hits"][0]["stage"] == "kbs"
    assert {h["kb"] for h in body["hits"]} == {"hr", "it"}
    per_kb = [s for s in body["hits"][0]["stages"] if s["stage"] != "kbs"]
    assert per_kb, "each hit keeps the scores it had in its own knowledge base"


ROUTING = [
    ("How many days of annual leave do I get?", "hr"),
    ("When are salaries paid?", "hr"),
    ("Is a doctor's note needed for sick leave?", "hr"),
    ("How do I reset my VPN token?", "it"),
    ("How long must a password be?", "it"),
    ("Who sets up a new laptop?", "it"),
    ("How do I remove a document from the index?", "default"),
    ("What does rag ingest do with unchanged files?", "default"),
]


def test_auto_routing_picks_the_right_knowledge_base(admin: httpx.Client) -> None:
    """The routing check: each question's own knowledge base comes first."""
    picked = []
    for question, expected in ROUTING:
        body = admin.post("/v1/retrieve", json={"question": question, "kb": "auto"}).json()
        picked.append((question, body["routes"][0]["kb"], expected))
    wrong = [p for p in picked if p[1] != p[2]]
    print(f"routing: {len(picked) - len(wrong)}/{len(picked)} right")
    assert not wrong, wrong


def test_documents_are_listed_shown_and_paged(admin: httpx.Client) -> None:
    listing = admin.get("/v1/kbs/default/documents", params={"limit": 2}).json()
    assert listing["total"] == 4 and len(listing["documents"]) == 2
    rest = admin.get("/v1/kbs/default/documents", params={"offset": 2, "limit": 2}).json()
    ids = {d["doc_id"] for d in listing["documents"]} | {d["doc_id"] for d in rest["documents"]}
    assert len(ids) == 4
    only = admin.get("/v1/kbs/default/documents", params={"source_prefix": "faq"}).json()
    assert [d["source"] for d in only["documents"]] == ["faq.html"]
    doc = admin.get(f"/v1/kbs/default/documents/{only['documents'][0]['doc_id']}").json()
    assert doc["chunks"] >= 1 and doc["summary"] and doc["doc_id"].startswith("sha256:")
    missing = admin.get("/v1/kbs/default/documents/sha256:nosuch")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"


def test_text_documents_and_deletion_everywhere(admin: httpx.Client) -> None:
    assert admin.post("/v1/kbs", json={"name": "notes"}).status_code == 201
    text = "The quarterly zebrafish audit happens every April in building Q."
    created = admin.post(
        "/v1/kbs/notes/documents",
        json={"text": text, "source": "audit-note", "metadata": {"title": "Zebrafish audit"}},
    )
    assert created.status_code == 202 and created.headers["location"].startswith("/v1/jobs/")
    job = wait_job(admin, created.json()["id"])
    assert job["state"] == "done" and job["files"][0]["status"] == "parsed"
    doc_id = job["files"][0]["doc_id"]
    moment = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"  # one format for every time shown
    assert re.match(moment, str(job["created_at"])) and re.match(moment, str(job["finished_at"]))
    assert re.match(moment, admin.get("/v1/kbs/notes").json()["created_at"])

    def found(mode: str) -> bool:
        question = "When is the zebrafish audit?"
        hits = admin.post("/v1/retrieve", json={"question": question, "kb": "notes"}).json()
        return any(h["doc_id"] == doc_id for h in hits["hits"])

    assert found("hybrid")
    routes = admin.post(
        "/v1/retrieve", json={"question": "zebrafish audit building Q", "kb": "auto"}
    ).json()["routes"]
    assert routes[0]["kb"] == "notes"  # its summary routes there
    assert admin.delete(f"/v1/kbs/notes/documents/{doc_id}").status_code == 204
    assert not found("hybrid")  # straight after: no dense, BM25 or summary hit
    assert admin.get(f"/v1/kbs/notes/documents/{doc_id}").status_code == 404
    assert admin.delete(f"/v1/kbs/notes/documents/{doc_id}").status_code == 404
    assert admin.get("/v1/kbs/notes").json()["chunks"] == 0
    admin.delete("/v1/kbs/notes")


def test_an_upload_whose_parser_drops_text_says_so(admin: httpx.Client) -> None:
    assert admin.post("/v1/kbs", json={"name": "drafts"}).status_code == 201
    drafts = "\n".join(
        f"Draft {i}: the carry-over rule is still being discussed." for i in range(20)
    )
    body = f"* Leave\n\nAnnual leave is fifteen days.\n\n#+BEGIN_COMMENT\n{drafts}\n#+END_COMMENT\n"
    response = admin.post("/v1/kbs/drafts/documents", files=[("files", ("policy.org", body))])
    job = wait_job(admin, response.json()["id"])
    admin.delete("/v1/kbs/drafts")
    (result,) = job["files"]
    assert result["status"] == "parsed", result  # ingested all the same, with the warning
    assert "of the text was extracted" in result["reason"], result


def test_upload_names_are_made_safe(admin: httpx.Client, service: ApiServer) -> None:
    body = (DATA / "it-vpn.md").read_bytes()
    names = [
        b"../../../../etc/cron.d/evil.md",
        b"/abs/path/it-vpn-copy.md",
        b"bad\x00name.md",  # raw bytes: httpx would percent-encode these
        b"ctrl\x1bname.md",
        b"a\\b-vpn.md",  # a backslash is part of the name, not a folder
        b"dress\\xff\\xfecode.md",  # as the CLI escapes bytes that are not UTF-8
    ]
    parts = [
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="' + name + b'"\r\n'
        b"Content-Type: text/markdown\r\n\r\n" + body + (b"\nCopy." if b"copy" in name else b"")
        for name in names
    ]
    response = admin.post(
        "/v1/kbs/it/documents",
        content=b"\r\n".join(parts) + b"\r\n--b--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 202
    job = wait_job(admin, response.json()["id"])
    results = {f["source"]: f for f in job["files"]}
    assert results["evil.md"]["status"] in ("parsed", "skipped")
    assert results["it-vpn-copy.md"]["status"] == "parsed"
    assert {"a\\b-vpn.md", "dress\\xff\\xfecode.md"} <= set(results), sorted(results)
    refused = [f for f in job["files"] if f["status"] == "failed"]
    assert len(refused) == 2 and all("control characters" in f["reason"] for f in refused)
    assert not list((service.data_dir / "uploads").iterdir())  # the job's files are gone
    assert not (service.data_dir.parent / "etc").exists()


def test_the_same_file_from_eight_clients_is_one_document(service: ApiServer) -> None:
    import concurrent.futures

    body = b"# Printer setup\n\nThe third-floor printer is called Kestrel and prints duplex.\n"

    def send(_: int) -> str:
        with service.client(ADMIN) as client:
            response = client.post("/v1/kbs/it/documents", files=[("files", ("printer.md", body))])
            assert response.status_code == 202
            return str(response.json()["id"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(send, range(8)))
    with service.client(ADMIN) as client:
        jobs = [wait_job(client, i) for i in ids]
        statuses = sorted(j["files"][0]["status"] for j in jobs)
        docs = client.get("/v1/kbs/it/documents", params={"source_prefix": "printer"}).json()
    assert statuses == ["parsed"] + ["skipped"] * 7
    assert docs["total"] == 1 and len({j["files"][0]["doc_id"] for j in jobs}) == 1


def test_unknown_routes_and_methods_are_json_errors(admin: httpx.Client) -> None:
    missing = admin.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = admin.put("/v1/query", json={})
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    job = admin.get("/v1/jobs/nosuch")
    assert job.status_code == 404 and job.json()["error"]["code"] == "job_not_found"
    media = admin.post(
        "/v1/kbs/default/documents", content=b"x", headers={"content-type": "text/plain"}
    )
    assert media.status_code == 415


def test_request_ids_are_returned_and_kept(admin: httpx.Client) -> None:
    response = admin.get("/v1/kbs", headers={"X-Request-ID": "trace-abc.1"})
    assert response.headers["x-request-id"] == "trace-abc.1"
    generated = admin.get("/v1/kbs/nosuch")
    assert generated.json()["error"]["request_id"] == generated.headers["x-request-id"]
    assert len(generated.headers["x-request-id"]) == 32


def test_metrics_in_prometheus_format(service: ApiServer) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with service.client() as anonymous:
        text = anonymous.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "rag_http_requests",
        "rag_http_request_seconds",
        "rag_stage_seconds",
        "rag_generation_tokens",
        "rag_ingest_files",
        "rag_ingest_chunks",
        "rag_jobs_queue_depth",
        "rag_model_errors",
        "rag_model_breaker_open",
        "rag_embedding_calls",
        "rag_gate_waiting",
    ):
        assert name in families, name
    routes = {s.labels.get("route") for s in families["rag_http_requests"].samples}
    assert "/v1/query" in routes and "/v1/kbs/{kb}/documents" in routes
    stages = {s.labels.get("stage") for s in families["rag_stage_seconds"].samples}
    assert {"retrieval", "generate"} <= stages
