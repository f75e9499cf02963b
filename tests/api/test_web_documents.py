"""The web page's documents panel and its errors, in real headless Chromium: a knowledge
base created, a file chosen with the keyboard and a broken one dropped (each with its own
job progress and result), listed, filtered, asked about, deleted, and the knowledge base
deleted, against the service tests' real `rag serve`; the degraded banner and answer
against a server whose model server is down (nothing listens on its port); a 429 and an
unreachable server shown in words (those two responses are made by Playwright's request
routing: a stand-in for an overloaded or vanished server, named so)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.conftest import ADMIN, GUIDE, model_settings, upload
from tests.support.api_server import ApiServer
from tests.support.browser import (
    ask,
    assert_only_from,
    browser_page,
    open_app,
    screenshot_path,
)
from tests.support.llama import free_port

KB = "web_upload"
HERON = "Project Heron has a budget of 4.2 million euros, approved by the board in March."
_DROP_BROKEN_PDF = """(() => {
  const files = new DataTransfer();
  const broken = ["%PDF-1.7 this is not a PDF"];
  files.items.add(new File(broken, "broken.pdf", {type: "application/pdf"}));
  const drop = document.getElementById("drop");
  const init = {dataTransfer: files, bubbles: true, cancelable: true};
  drop.dispatchEvent(new DragEvent("drop", init));
})()"""


@pytest.fixture
def admin(service: ApiServer) -> Iterator[httpx.Client]:
    with service.client(ADMIN) as client:
        yield client
        client.delete(f"/v1/kbs/{KB}")  # whatever the test left behind


def test_upload_list_ask_delete(service: ApiServer, admin: httpx.Client, tmp_path: Path) -> None:
    heron = tmp_path / "heron.md"
    heron.write_text(f"# Project Heron\n\n{HERON}\n", encoding="utf-8")
    with browser_page() as page:
        requests = open_app(page, service.url, ADMIN)
        page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before deleting
        # file choosers are intercepted from here on (enabling it at the keypress can miss it)
        page.on("filechooser", lambda chooser: None)

        page.click("#kb-admin > summary")
        page.fill("#kb-name", KB)
        page.fill("#kb-description", "Projects and their budgets")
        page.click("#kb-create button[type=submit]")
        expect(page.locator("#docs-kb")).to_have_value(KB)
        assert KB in page.locator("#kb option").all_inner_texts()
        assert admin.get(f"/v1/kbs/{KB}").json()["description"] == "Projects and their budgets"

        page.focus("#drop")  # the drop zone is a keyboard button that opens the picker
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Enter")
        chooser.value.set_files(str(heron))
        page.evaluate(_DROP_BROKEN_PDF)
        done = page.locator(".upload[data-state=done]")
        failed = page.locator(".upload[data-state=failed]")
        done.wait_for(timeout=120_000)
        failed.wait_for(timeout=120_000)
        assert "heron.md" in done.inner_text() and "1 chunk" in done.inner_text()
        assert "1 chunks" not in done.inner_text() and "broken.pdf" in failed.inner_text()
        assert failed.locator(".reason").inner_text().strip()  # the job's reason, in words
        # A full bar for a finished file, none for a failed one.
        assert (
            done.locator("progress").get_attribute("value") == "1"
            and not failed.locator("progress").count()
        )
        page.screenshot(path=str(screenshot_path("web-upload.png")))

        listed = page.locator("#doc-list li")
        listed.first.wait_for()
        assert listed.count() == 1 and "heron.md" in listed.first.inner_text()
        page.fill("#doc-filter", "nothing like it")
        assert listed.count() == 0
        assert page.locator("#doc-count").inner_text() == "0 of 1 documents"
        page.fill("#doc-filter", "HERON")
        assert listed.count() == 1

        page.select_option("#kb", KB)
        page.click("#settings > summary")
        page.check("#set-extractive")
        answer = ask(page, "What is the budget of Project Heron?", 1)
        assert "4.2 million euros" in answer.locator(".answer-text").inner_text()
        assert "heron.md" in answer.locator(".source-list").inner_text()

        listed.first.locator("button.danger").click()
        expect(listed).to_have_count(0)
        assert "heron.md" in page.locator("#doc-status").inner_text()
        assert admin.get(f"/v1/kbs/{KB}/documents").json()["total"] == 0

        page.click("#kb-delete")
        expect(page.locator(f"#kb option[value={KB}]")).to_have_count(0)
        assert admin.get(f"/v1/kbs/{KB}").status_code == 404
    assert_only_from(requests, service.url)


_DROP_UNKNOWN = """(() => {
  const files = new DataTransfer();
  files.items.add(new File([new Uint8Array([0, 159, 146, 150, 7, 1, 0, 255])], "blob.bin"));
  const drop = document.getElementById("drop");
  const init = {dataTransfer: files, bubbles: true, cancelable: true};
  drop.dispatchEvent(new DragEvent("drop", init));
})()"""


def test_chinese_page_words_refusals_in_chinese(service: ApiServer, admin: httpx.Client) -> None:
    """The name rule is the server's, checked before sending and said in Chinese (it was a
    looser pattern, then the server's raw regex); a failed file's reason is in Chinese with
    no parser library's words (it was "Partitioning is not supported for the FileType.UNK
    file type")."""
    assert admin.post("/v1/kbs", json={"name": KB, "description": "x"}).status_code == 201
    with browser_page(locale="zh-CN") as page:
        open_app(page, service.url, ADMIN)
        page.click("#kb-admin > summary")
        for refused in ("1abc", "abc_", "Abc"):
            page.fill("#kb-name", refused)
            page.click("#kb-create button[type=submit]")
            message = page.eval_on_selector("#kb-name", "e => e.validationMessage")
            assert "以小写字母开头" in message, (refused, message)
        names = [kb["name"] for kb in admin.get("/v1/kbs").json()["kbs"]]
        assert not {"1abc", "abc_", "abc"} & set(names)  # nothing was sent
        page.select_option("#docs-kb", KB)
        page.evaluate(_DROP_UNKNOWN)
        failed = page.locator(".upload[data-state=failed]")
        failed.wait_for(timeout=120_000)
        reason = failed.locator(".reason")
        assert reason.inner_text() == "不支持的文件类型"
        assert "unsupported file type" in (reason.get_attribute("title") or "")
        assert "Partitioning" not in reason.get_attribute("title") + reason.inner_text()
        assert failed.locator("progress").count() == 0
        page.screenshot(path=str(screenshot_path("web-zh-refusals.png")))
    refused = admin.post("/v1/kbs", json={"name": "abc_", "description": ""})
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "starts with a lowercase letter" in message and "[a-z" not in message


@pytest.fixture(scope="module")
def model_down(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Path) -> Iterator[str]:
    """A server without keys whose model server is down: nothing listens on its port."""
    settings = {
        **model_settings(f"http://127.0.0.1:{free_port()}/v1", tiny_tokenizer),
        "RAG_GENERATOR__RETRIES": "0",
        "RAG_GENERATOR__CONNECT_TIMEOUT_S": "1",
    }
    data_dir = tmp_path_factory.mktemp("web-down") / "index"
    with ApiServer(data_dir, settings) as server, server.client() as client:
        assert upload(client, "default", [GUIDE / "user-guide.md"])["state"] == "done"
        yield server.url


def test_degraded_banner_and_answer_when_the_model_is_down(model_down: str) -> None:
    with browser_page() as page:
        requests = open_app(page, model_down)  # no key asked: this server has none
        assert not page.locator("#key-dialog").is_visible()
        banner = page.locator("#banner")
        assert banner.is_visible() and banner.get_attribute("class") == "warning"
        assert "The server is degraded" in banner.inner_text()
        assert "the model server does not answer" in banner.inner_text()

        answer = ask(page, "How do I remove a document from the index?", 1)
        assert answer.get_attribute("data-degraded") == "true"
        notice = answer.locator(".notice.warning")
        assert "The model could not be reached" in notice.inner_text()
        assert "rag delete" in answer.locator(".answer-text").inner_text()  # still answered
        page.screenshot(path=str(screenshot_path("web-degraded.png")))
    assert_only_from(requests, model_down)


def test_overload_and_lost_server_in_words(model_down: str) -> None:
    busy = {"error": {"code": "overloaded", "message": "queue full", "request_id": "x"}}
    with browser_page() as page:
        open_app(page, model_down)
        page.route(
            "**/v1/query",
            lambda route: route.fulfill(
                status=429, headers={"Retry-After": "7"}, body=json.dumps(busy)
            ),
        )
        answer = ask(page, "Anything?", 1)
        assert (
            answer.locator(".notice.error").inner_text() == "The server is busy. Try again in 7 s."
        )
        page.unroute("**/v1/query")
        page.route("**/v1/query", lambda route: route.abort("connectionrefused"))
        answer = ask(page, "Anything else?", 2)
        assert "Cannot reach the server" in answer.locator(".notice.error").inner_text()
        assert page.locator("#send").is_enabled()  # the page goes on
        page.screenshot(path=str(screenshot_path("web-errors.png")))
