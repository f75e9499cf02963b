"""API keys on every route (enumerated from the app's own route table, so a new route
left open fails here), every operation's declared scope (walked in the OpenAPI schema, so a
route that declares none fails here), scopes per knowledge base and per role, and the refusal
to serve a non-loopback address without keys."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from api.app import create_app
from api.scopes import Writer, public_paths
from rag.cli import main
from rag.config import RagConfig
from tests.api.conftest import ADMIN, HR_READER, WRITER
from tests.support.api_server import ApiServer

PARAMS = {
    "kb": "hr",
    "doc_id": "sha256:none",
    "job_id": "none",
    "name": "app.css",
    "model": "rag:hr",
}
ROLES = {"read", "write", "admin"}


def _app() -> FastAPI:
    return create_app(RagConfig())  # building the app does no work: no model, no index


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its route table (included routers
    expanded), documented or not."""
    from fastapi.routing import iter_route_contexts

    app = _app()
    out = []
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert route.path is not None
            out.append((method, route.path))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: PARAMS[m.group(1)], path)


def undeclared(schema: dict[str, Any]) -> list[str]:
    """The operations of an OpenAPI schema that declare no scope: neither `security: []`
    (public, on purpose) nor the bearer key with exactly one role."""
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security")
            public = security == []
            scoped = (
                isinstance(security, list)
                and len(security) == 1
                and list(security[0]) == ["apiKey"]
                and len(security[0]["apiKey"]) == 1
                and security[0]["apiKey"][0] in ROLES
            )
            if not (public or scoped):
                found.append(f"{method.upper()} {path}")
    return found


def test_every_route_declares_its_scope() -> None:
    schema = _app().openapi()
    assert undeclared(schema) == []
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["apiKey"]["description"],
    }
    roles = {
        (method.upper(), path): (op["security"][0]["apiKey"][0] if op["security"] else "public")
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    assert roles[("POST", "/v1/kbs/{kb}/documents")] == "write"
    assert roles[("DELETE", "/v1/kbs/{kb}")] == "admin"
    assert roles[("POST", "/v1/query")] == "read" and roles[("GET", "/healthz")] == "public"


def test_a_route_without_a_scope_is_caught() -> None:
    app = _app()
    extra = APIRouter()

    @extra.post("/v1/reindex-everything")
    async def forgotten() -> dict[str, str]:
        return {}

    @extra.post("/v1/kbs/{kb}/compact")
    async def declared(kb: str, _: Writer) -> dict[str, str]:
        return {}

    app.include_router(extra)
    assert undeclared(app.openapi()) == ["POST /v1/reindex-everything"]
    assert "/v1/reindex-everything" not in public_paths(app.routes)[0]  # closed, not open


def test_every_route_needs_a_key(service: ApiServer) -> None:
    routes = _routes()
    public, prefixes = public_paths(_app().routes)
    assert ("POST", "/v1/query") in routes and ("GET", "/openapi.json") in routes
    # metrics: api.metrics_public; the docs describe the API and hold no data
    assert public == {"/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}
    with service.client() as anonymous:
        for method, path in routes:
            response = anonymous.request(method, _concrete(path), json={})
            if path in public or path.startswith(prefixes):
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


def test_the_docs_page_works_offline_and_with_a_key(service: ApiServer) -> None:
    with service.client() as anonymous:
        page = anonymous.get("/docs")
        assert page.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in page.text
        assert "cdn." not in page.text and "https://" not in page.text  # nothing from a CDN
        script = anonymous.get("/docs/static/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        schema = anonymous.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
        assert anonymous.get("/docs/static/..%2F..%2F..%2Fapi%2Fapp.py").status_code == 404
        assert anonymous.get("/v1/kbs").status_code == 401  # what the docs describe needs a key


def test_a_wrong_key_is_refused_and_both_headers_work(service: ApiServer) -> None:
    with service.client("not-a-key") as wrong:
        assert wrong.get("/v1/kbs").status_code == 401
    with httpx.Client(base_url=service.url, headers={"X-API-Key": ADMIN}) as by_header:
        assert by_header.get("/v1/kbs").status_code == 200
    with service.client(ADMIN) as bearer:
        assert bearer.get("/v1/kbs").status_code == 200


def test_scopes_per_knowledge_base_and_role(service: ApiServer) -> None:
    question = {"question": "How many days of annual leave?"}
    with service.client(HR_READER) as hr:
        assert hr.post("/v1/retrieve", json={**question, "kb": "hr"}).status_code == 200
        denied = hr.post("/v1/retrieve", json={**question, "kb": "it"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert hr.post("/v1/retrieve", json={**question, "kb": ["hr", "it"]}).status_code == 403
        assert hr.get("/v1/kbs/it/documents").status_code == 403
        assert [kb["name"] for kb in hr.get("/v1/kbs").json()["kbs"]] == ["hr"]
        models = [m["id"] for m in hr.get("/v1/models").json()["data"]]
        assert models == ["rag:hr", "rag:auto"]
        routed = hr.post("/v1/retrieve", json={**question, "kb": "auto"}).json()
        assert routed["kbs"] == ["hr"]  # auto routes among the readable ones only
        files = [("files", ("x.md", b"# x\n\ntext"))]
        assert hr.post("/v1/kbs/hr/documents", files=files).status_code == 403
        assert hr.delete("/v1/kbs/hr/documents/sha256:none").status_code == 403
        assert hr.post("/v1/kbs", json={"name": "mine"}).status_code == 403
    with service.client(WRITER) as writer:
        assert writer.delete("/v1/kbs/hr/documents/sha256:none").status_code == 404
        assert writer.post("/v1/kbs", json={"name": "mine"}).status_code == 403
        assert writer.delete("/v1/kbs/hr").status_code == 403


def test_an_upload_without_a_key_is_refused_before_its_body_is_read(service: ApiServer) -> None:
    """The refusal comes before a byte of the 50 MB body is sent: the server never waits for
    the body (Starlette would spool it to disk before a route's auth dependency ran). The
    client sends the headers only, so the server's close cannot reset the connection."""
    import socket

    with socket.create_connection(("127.0.0.1", service.port)) as raw:
        raw.sendall(
            b"POST /v1/kbs/hr/documents HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n"
        )
        raw.settimeout(30)
        reply = raw.recv(4096)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]


def test_non_loopback_without_keys_is_refused(
    data_dir: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "without API keys" in err and "--no-auth" in err


def test_several_workers_need_a_store_server(
    data_dir: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "2", "--port", "1"]) == 2
    assert "needs a store server" in capsys.readouterr().err


def test_pgvector_is_a_store_server_for_several_workers() -> None:
    from rag.cli.serve import embedded_store
    from rag.config import RagConfig, StoreConfig

    assert embedded_store(RagConfig())  # Chroma in the data dir
    assert not embedded_store(RagConfig(store=StoreConfig(backend="pgvector")))
    assert not embedded_store(RagConfig(store=StoreConfig(uri="http://chroma:8000")))
