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
def browser_page(width: int = 1300, height: int = 1000) -> Iterator[Any]:
    """A fresh page in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def screenshot_path(name: str) -> Path:
    """Where the screenshot `name` goes (the folder is made)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS / name
