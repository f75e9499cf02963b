"""Debian's Chromium driven by Playwright (Playwright cannot download its own browser here),
and where browser tests save their screenshots (`test-screenshots/` at the repository root)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"


def chromium_path() -> str:
    """The system Chromium, or skip the test saying how to get it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (`apt-get install chromium`; .ci/run does)")
    return path


@contextmanager
def browser_page(width: int = 1300, height: int = 1000, **options: Any) -> Iterator[Any]:
    """A fresh page in headless Chromium (`options` go to `new_page`, e.g. `locale`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height}, **options)
        finally:
            browser.close()


def screenshot_path(name: str) -> Path:
    """Where the screenshot `name` goes (the folder is made)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / name


def open_app(page: Any, url: str, key: str | None = None) -> list[str]:
    """Open the service's web page at `url` (with `key` already in the tab's
    sessionStorage, as after the key prompt) and wait until it has loaded; returns the list
    that collects every URL the page requests from then on."""
    import json

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    if key is not None:
        page.add_init_script(f"sessionStorage.setItem('rag-key', {json.dumps(key)})")
    page.goto(url + "/")
    page.wait_for_selector("body[data-loaded]")
    return requests


def ask(page: Any, question: str, turn: int) -> Any:
    """Ask with the keyboard (Enter) and wait for the answer of turn `turn` (1-based) to
    finish; returns that turn's answer element."""
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator(f"#turns > li:nth-child({turn}) .a")
    answer.and_(page.locator("[data-state=done], [data-state=stopped]")).wait_for()
    return answer


def assert_only_from(requests: list[str], url: str) -> None:
    """Every request the page made went to the server at `url` (and it made some)."""
    elsewhere = [r for r in requests if not r.startswith(url + "/")]
    assert requests and not elsewhere, elsewhere
