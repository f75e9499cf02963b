"""The web page in real headless Chromium against the real `rag serve` of the service
tests (keys on, the tiny model on the real llama.cpp server, the example guide in
`default`): a streamed answer, a follow-up with citations whose passage opens with the
cited sentences marked, the Chinese interface and a Chinese question, the key prompt. Every
test checks that the page asked nothing of any other host, and saves a screenshot in
test-screenshots/."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import expect

from api.routes.web import WEB_DIR
from tests.api.conftest import ADMIN
from tests.support.api_server import ApiServer
from tests.support.browser import (
    ask,
    assert_only_from,
    browser_page,
    open_app,
    screenshot_path,
)
from tests.support.llama import MODEL

FIRST = "How do I remove a document from the index?"
FOLLOW_UP = "And every document whose file no longer exists?"


# the answer's text up to the first [n] button of the second turn: the sentence it cites
_TEXT_BEFORE_FIRST_CITE = """(() => {
  const cite = document.querySelector('#turns > li:nth-child(2) button.cite');
  const range = document.createRange();
  range.setStart(cite.closest('.answer-text'), 0);
  range.setEndBefore(cite);
  return range.toString();
})()"""


def _extractive(page: Any, opened: bool = False) -> None:
    if not opened:
        page.click("#settings > summary")
    page.check("#set-extractive")


def _query_bodies(page: Any) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def seen(request: Any) -> None:
        if request.url.endswith("/v1/query"):
            bodies.append(json.loads(request.post_data))

    page.on("request", seen)
    return bodies


def test_streamed_answer_follow_up_and_cited_passage(service: ApiServer) -> None:
    with browser_page() as page:
        requests = open_app(page, service.url, ADMIN)
        bodies = _query_bodies(page)
        assert page.locator("#kb").input_value() == "default"
        page.click("#settings > summary")
        page.fill("#set-model", MODEL)  # the model the server serves, named by the page
        page.fill("#set-temperature", "0")
        page.fill("#set-topk", "3")
        first = ask(page, FIRST, 1)
        assert bodies[0]["generation"] == {"model": MODEL, "temperature": 0}
        assert bodies[0]["top_k"] == 3 and bodies[0]["kb"] == "default"
        # the model's answer arrived as several token events, each shown as it came
        assert first.get_attribute("data-state") == "done"
        assert int(first.get_attribute("data-pieces") or 0) >= 2
        assert first.locator(".answer-text").inner_text().strip()
        sources = first.locator(".source-list li")
        assert 1 <= sources.count() <= 3
        assert "user-guide.md" in sources.first.inner_text()
        # the calibrated confidence, one scale for every question and knowledge base
        shown = sources.first.locator(".score").inner_text()
        assert shown.startswith("confidence ") and 0.0 < float(shown.split()[-1]) <= 1.0

        _extractive(page, opened=True)  # the tiny random model writes no [n]; extractive does
        second = ask(page, FOLLOW_UP, 2)
        assert bodies[1]["history"][0][0] == FIRST  # the follow-up carries the first turn
        assert bodies[1]["generation"] == "none" and bodies[1]["stream"] is True
        answer = second.locator(".answer-text").inner_text()
        assert "--prune" in answer
        cites = second.locator("button.cite")
        assert cites.count() >= 1
        page.screenshot(path=str(screenshot_path("web-answer.png")))

        cites.first.click()
        dialog = page.locator("#passage")
        assert dialog.is_visible()
        n = cites.first.inner_text()
        assert page.locator("#passage-title").inner_text().startswith(f"[{n}] ")
        marked = dialog.locator("mark").all_inner_texts()
        assert marked and all(m.strip() in answer for m in marked)  # quoted sentences marked
        before = page.evaluate(_TEXT_BEFORE_FIRST_CITE)
        assert any(before.rstrip(" [").endswith(m.strip()) for m in marked), (before, marked)
        assert "confidence 0." in page.locator("#passage-where").inner_text()
        page.screenshot(path=str(screenshot_path("web-passage.png")))
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        assert page.evaluate("document.activeElement.className") == "cite"  # focus returns
    assert_only_from(requests, service.url)


def test_chinese_interface_and_question(service: ApiServer) -> None:
    with browser_page(locale="zh-CN") as page:
        requests = open_app(page, service.url, ADMIN)
        assert page.locator("h1").inner_text() == "向你的文档提问"
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert "Enter 发送" in (page.locator("#question").get_attribute("placeholder") or "")
        _extractive(page)
        answer = ask(page, "如何删除文档？", 1)
        text = answer.locator(".answer-text").inner_text()
        assert "删除" in text and "rag " in text
        assert "用户指南.md" in answer.locator(".source-list").inner_text()
        assert answer.locator(".sources summary").inner_text() == "来源"
        page.screenshot(path=str(screenshot_path("web-chinese.png")))
        answer.locator("button.cite").first.click()
        assert "删除" in " ".join(page.locator("#passage mark").all_inner_texts())
        page.keyboard.press("Escape")

        page.click("#lang")  # the switch: English, kept for the next visit
        assert page.locator("h1").inner_text() == "Ask your documents"
        assert page.evaluate("localStorage.getItem('rag-lang')") == "en"
        page.reload()
        page.wait_for_selector("body[data-loaded]")
        assert page.locator("h1").inner_text() == "Ask your documents"
    assert_only_from(requests, service.url)


def test_key_prompt_on_a_server_with_keys(service: ApiServer) -> None:
    with browser_page() as page:
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(service.url + "/")  # the page itself needs no key
        dialog = page.locator("#key-dialog")
        dialog.wait_for(state="visible")
        assert "needs an API key" in page.locator("#key-why").inner_text()
        page.screenshot(path=str(screenshot_path("web-key.png")))

        page.fill("#key-input", "not-a-key")
        page.press("#key-input", "Enter")
        expect(page.locator("#key-why")).to_contain_text("refused")
        assert dialog.is_visible()

        page.fill("#key-input", ADMIN)
        page.press("#key-input", "Enter")
        page.wait_for_selector("body[data-loaded]")
        assert not dialog.is_visible()
        options = page.locator("#kb option").all_inner_texts()
        assert {"default", "hr", "it"} <= set(options)
        assert page.evaluate("sessionStorage.getItem('rag-key')") == ADMIN  # this tab only
        assert ADMIN not in json.dumps(page.evaluate("Object.entries(localStorage)"))

        # the other two choices of the picker: every knowledge base (fused), and auto
        bodies = _query_bodies(page)
        page.select_option("#kb", "__all")
        assert ask(page, "How do I connect to the VPN?", 1).get_attribute("data-state") == "done"
        names = page.locator("#kb option").evaluate_all("options => options.map(o => o.value)")
        assert bodies[0]["kb"] == [n for n in names if n not in ("__all", "auto")]
        page.select_option("#kb", "auto")
        assert (
            ask(page, "How many days of leave carry over?", 2).get_attribute("data-state") == "done"
        )
        assert bodies[1]["kb"] == "auto"
    assert_only_from(requests, service.url)


def test_page_files_are_public_and_locked_down(service: ApiServer) -> None:
    with httpx.Client(base_url=service.url) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        script = anonymous.get("/ui/js/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert anonymous.get("/ui/js/nothing.js").status_code == 404
        assert anonymous.get("/ui/%2e%2e/app.py").status_code == 404  # nothing outside api/web
        assert anonymous.get("/v1/kbs").status_code == 401  # the API still needs the key
    files = [p for p in WEB_DIR.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for file in files:
        text = httpx.get(f"{service.url}/ui/{file.relative_to(WEB_DIR).as_posix()}").text
        assert text == file.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text  # no fonts, no CDNs


def test_every_page_file_is_packaged() -> None:
    """pip install . (the Docker image) ships what the page needs: the package data globs
    cover every file in api/web."""
    import tomllib
    from pathlib import PurePosixPath

    globs = tomllib.loads((WEB_DIR.parents[1] / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]["package-data"]["api"]
    for file in (p for p in WEB_DIR.rglob("*") if p.is_file()):
        relative = PurePosixPath(file.relative_to(WEB_DIR.parent).as_posix())
        assert any(relative.match(g) for g in globs), relative  # "*" stays in one folder
