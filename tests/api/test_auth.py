"""API keys on every route (enumerated from the app's own route table, so a new route
left open fails here), scopes per knowledge base and per role, and the refusal to serve a
non-loopback address without keys."""

from __future__ import annotations

import re

import httpx
import pytest

from api.app import PUBLIC_PATHS, create_app
from api.routes.web import PAGE_PREFIX
from rag.cli import main
from rag.config import RagConfig
from tests.api.conftest import ADMIN, HR_READER, WRITER
from tests.support.api_server import ApiServer

PARAMS = {"kb": "hr", "doc_id": "sha256:none", "job_id": "none", "name": "app.css"}


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its route table (included routers
    expanded), documented or not."""
    from fastapi.routing import iter_route_contexts

    app = create_app(RagConfig())  # building the app does no work: no model, no index
    out = []
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            assert route.path is not None
            out.append((method, route.path))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: PARAMS[m.group(1)], path)


def _page(path: str) -> bool:
    """The web page and its files: public (the page asks for a key for its API calls)."""
    return path == "/" or path.startswith(PAGE_PREFIX)


def test_every_route_needs_a_key(service: ApiServer) -> None:
    routes = _routes()
    assert ("POST", "/v1/query") in routes and ("GET", "/openapi.json") in routes
    with service.client() as anonymous:
        for method, path in routes:
            response = anonymous.request(method, _concrete(path), json={})
            if path in PUBLIC_PATHS or path == "/metrics" or _page(path):
                assert response.status_code != 401, (method, path)
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"


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
