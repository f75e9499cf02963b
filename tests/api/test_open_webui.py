"""Open WebUI itself in front of `rag serve`, through its own page in headless Chromium: a
question typed with Open WebUI's default chat settings gets an answer whose `[n]` markers are
source chips, and a chip opens the passage with its score. Slow (Open WebUI takes about a
minute to start): `make test-open-webui` installs Open WebUI 0.12.4 in a venv of its own
(`.venv-open-webui`, torch 2.13.0 held by a constraints file) and runs this file; elsewhere
set RAG_OPEN_WEBUI to an `open-webui` executable.

Open WebUI runs offline as the README's section sets it up: its title, tag and follow-up
generation off, so that one question is one request to the `rag:*` model (checked through a
recording proxy between the two, which also shows what Open WebUI sends: tools included)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import RagConfig
from tests.support.api_server import ApiServer
from tests.support.app import ingest
from tests.support.browser import browser_page, screenshot_path
from tests.support.llama import free_port
from tests.support.loopback import wait_until_up
from tests.support.proxy import Proxy, recording_proxy

pytestmark = pytest.mark.slow

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "guide"
OPEN_WEBUI = Path(
    os.environ.get(
        "RAG_OPEN_WEBUI", Path(__file__).resolve().parents[2] / ".venv-open-webui/bin/open-webui"
    )
)
QUESTION = "How do I remove a document from the index?"


@pytest.fixture(scope="module")
def rag_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("open-webui")
    config = RagConfig(data_dir=root / "index")
    assert ingest(config, [GUIDE]).exit_code == 0
    with ApiServer(config.data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(rag_api: ApiServer) -> Iterator[Proxy]:
    with recording_proxy(f"{rag_api.url}/v1") as recording:
        yield recording


@pytest.fixture(scope="module")
def open_webui(tmp_path_factory: pytest.TempPathFactory, proxy: Proxy) -> Iterator[str]:
    if not OPEN_WEBUI.exists():
        pytest.skip(f"no Open WebUI at {OPEN_WEBUI}: run `make test-open-webui` (installs it)")
    home = tmp_path_factory.mktemp("webui-home")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DATA_DIR": str(home / "data"),
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_OLLAMA_API": "false",
        "OPENAI_API_BASE_URL": proxy.url,
        "OPENAI_API_KEY": "none",
        "WEBUI_AUTH": "false",
        "WEBUI_SECRET_KEY": "test-only-secret",
        "RAG_EMBEDDING_ENGINE": "openai",  # loads no embedding model
        "ENABLE_TITLE_GENERATION": "false",
        "ENABLE_TAGS_GENERATION": "false",
        "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ANONYMIZED_TELEMETRY": "false",
        "DO_NOT_TRACK": "true",
    }
    log_file = home / "open-webui.log"
    log = log_file.open("wb")
    process = subprocess.Popen(
        [str(OPEN_WEBUI), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(
            f"{url}/health",
            300,
            "Open WebUI",
            lambda: None if process.poll() is None else log_file.read_text()[-3000:],
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_a_question_typed_in_open_webui_gets_an_answer_whose_sources_open(
    open_webui: str, proxy: Proxy
) -> None:
    with browser_page() as page:
        page.goto(open_webui + "/")
        page.locator("#chat-input").wait_for(timeout=120_000)
        time.sleep(2)  # the release notes of a first visit open a moment later
        welcome = page.get_by_text("Okay, Let's Go!")
        if welcome.is_visible():
            welcome.click()
        selected = page.locator("#model-selector-model-button")
        assert selected.inner_text().strip() == "rag:default"  # the first model, as listed
        before = len(proxy.bodies)
        page.locator("#chat-input").click()
        page.keyboard.type(QUESTION)
        page.keyboard.press("Enter")
        chips = page.locator("button[aria-label^='View source:']")
        chips.first.wait_for(timeout=120_000)
        answer = page.locator("#response-content-container").first.inner_text()
        assert "rag delete" in answer  # answered from the guide
        assert "user-guide.md" in chips.first.get_attribute("aria-label")
        chips.first.click()
        dialog = page.locator("[role=dialog]")
        dialog.wait_for()
        shown = dialog.inner_text()
        assert "Removing documents" in shown and "rag delete" in shown  # the passage
        assert "%" in shown  # with its score
        page.screenshot(path=str(screenshot_path("open-webui-source.png")))
    chats = [json.loads(b) for b in proxy.bodies[before:] if '"messages"' in b]
    assert len(chats) == 1, [c.get("messages", [])[-1] for c in chats]  # no title/tags/follow-ups
    assert chats[0]["model"] == "rag:default" and chats[0]["messages"][-1]["content"] == QUESTION
    print(f"Open WebUI sent {len(chats[0].get('tools') or [])} tools with the question")
