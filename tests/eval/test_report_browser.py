"""report.html in real headless Chromium: it loads with no network request, every metric
has a non-empty chart, the drill-down opens with the systems side by side, the filter
works; a screenshot is saved in test-screenshots/."""

from __future__ import annotations

from pathlib import Path

from eval.report import write_report
from tests.eval.crafted import crafted
from tests.support.browser import browser_page, screenshot_path


def test_report_in_chromium(tmp_path: Path) -> None:
    results = crafted(
        {
            "default": {
                "ndcg@10": [0.6 + 0.01 * i for i in range(20)],
                "faithfulness": [1.0 if i % 3 else 0.5 for i in range(20)],
                "rouge_l": [0.4] * 20,
            },
            "bm25": {
                "ndcg@10": [0.5 + 0.01 * i for i in range(20)],
                "faithfulness": [1.0 if i % 4 else 0.0 for i in range(20)],
                "rouge_l": [0.35] * 20,
            },
        },
        unjudged=2,
    )
    report = write_report(results, tmp_path / "out") / "report.html"
    requests: list[str] = []
    with browser_page() as page:
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        assert requests == [report.as_uri()]  # nothing but the file itself: works offline
        assert page.locator("#summary tr").count() == 1 + 3  # header + three metrics
        assert "(2 unjudged)" in page.locator("#summary").inner_text()
        assert page.locator("#comparisons td.sig").count() >= 1  # ndcg@10: p < 0.05
        charts = page.locator("#metric-charts figure")
        assert charts.count() == 3
        for i in range(3):
            bars = charts.nth(i).locator("svg g[id^='patch'] path")
            assert bars.count() >= 2, f"chart {i} has no bars"
            box = charts.nth(i).locator("svg").bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100
        assert page.locator("#latency-charts figure svg").count() == 2
        page.screenshot(path=str(screenshot_path("report.png")), full_page=False)

        first = page.locator("details.q").first
        first.locator("> summary").click()
        sides = first.locator(".side")
        assert sides.count() == 2
        assert "Answer 0 from default" in sides.nth(0).inner_text()
        assert "Answer 0 from bm25" in sides.nth(1).inner_text()
        first.screenshot(path=str(screenshot_path("report-question.png")))

        page.fill("#filter", "case 3?")
        assert page.locator("#shown").inner_text() == "1 of 20 shown"
        page.fill("#filter", "")
        page.check("#differ")  # every question differs on ndcg@10 here
        assert page.locator("#shown").inner_text() == "20 of 20 shown"
    assert screenshot_path("report.png").stat().st_size > 10_000
