"""No handler blocks the event loop: every manifest read (made slow here, as a database on
another machine would be) runs in the service's executor, so asyncio's debug mode reports
no callback that held the loop."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.service import build_services
from rag.config import RagConfig
from rag.state.embedded import FileRegistry
from tests.support.app import ingest

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
SLOW_S = 0.3  # each manifest read; the loop may be held at most a third of it

REQUESTS: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/v1/kbs", None),
    ("GET", "/v1/kbs/default", None),
    ("POST", "/v1/kbs", {"name": "extra", "description": "made in the test"}),
    ("GET", "/v1/kbs/default/documents", None),
    ("POST", "/v1/kbs/default/documents", {"text": "The gym is on floor 2.", "source": "g.txt"}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/rag:default", None),
    ("POST", "/v1/retrieve", {"question": "How do I remove a document?"}),
    ("POST", "/v1/query", {"question": "How do I remove a document?"}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "rag:default", "messages": [{"role": "user", "content": "Remove a document?"}]},
    ),
    ("DELETE", "/v1/kbs/extra", None),
]


def test_no_handler_blocks_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = RagConfig(data_dir=tmp_path / "data")
    assert ingest(config, [GUIDE / "user-guide.md"]).exit_code == 0
    services = build_services(config)
    read = FileRegistry.read

    def slow_read(self: FileRegistry) -> object:
        time.sleep(SLOW_S)
        return read(self)

    monkeypatch.setattr(FileRegistry, "read", slow_read)
    app = create_app(services=services)
    app.state.services = services  # what the lifespan sets

    async def exercise() -> list[int]:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW_S / 3
        transport = httpx.ASGITransport(app=app)
        statuses = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method, path, body in REQUESTS:
                response = await client.request(method, path, json=body, timeout=120)
                statuses.append(response.status_code)
        return statuses

    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            statuses = asyncio.run(exercise(), debug=True)
    finally:
        services.close()
    assert all(s < 400 for s in statuses), list(zip(REQUESTS, statuses, strict=True))
    held = [
        r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()
    ]
    assert held == [], held[:3]
