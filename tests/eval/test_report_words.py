"""What the report says in words (which configuration wins on the primary metric, and
whether the difference is significant), and chart labels clear of the interval caps."""

from __future__ import annotations

import html
import re
from pathlib import Path

from eval.charts import metric_bars
from eval.report import verdict, write_report
from eval.results import Summary
from tests.eval.crafted import crafted

QUESTIONS = 24


def test_the_verdict_names_the_winner_and_the_significance(tmp_path: Path) -> None:
    clear = crafted(
        {
            "default": {"ndcg@10": [0.4 + (i % 3) / 100 for i in range(QUESTIONS)]},
            "rerank": {"ndcg@10": [0.6 + (i % 3) / 100 for i in range(QUESTIONS)]},
        }
    )
    said = verdict(clear)
    assert said[0].startswith("On ndcg@10 (the primary metric) rerank scores highest: 0.61")
    assert said[1].startswith(f"rerank beats default by 0.2000 on {QUESTIONS} questions")
    assert "a significant difference (p = " in said[1]
    report = (write_report(clear, tmp_path / "out") / "report.md").read_text(encoding="utf-8")
    assert "## Verdict" in report and said[1] in report
    assert html.escape(said[1]) in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")

    noisy = crafted(
        {
            "default": {"ndcg@10": [0.5 + ((i * 7) % 5) / 10 - 0.2 for i in range(QUESTIONS)]},
            "bm25": {"ndcg@10": [0.5 + ((i * 3) % 5) / 10 - 0.2 for i in range(QUESTIONS)]},
        }
    )
    close = verdict(noisy)[1]
    assert "not significant" in close and "do not show that either is better" in close

    alone = crafted({"default": {"ndcg@10": [0.5] * 4}})
    assert verdict(alone)[1] == "One system ran: there is nothing to compare it with."


def test_value_labels_sit_above_the_interval_caps() -> None:
    svg = metric_bars(
        "ndcg@10", [("a", Summary(0.5, 0.4, 0.6, 20, 0)), ("b", Summary(0.3, 0.25, 0.36, 20, 0))]
    )
    uses = [
        (float(x), float(y)) for x, y in re.findall(r'<use [^>]*x="([\d.]+)" y="([\d.]+)"', svg)
    ]
    for label in ("0.500", "0.300"):
        found = re.search(rf"x=\"([\d.]+)\" y=\"([\d.]+)\"[^>]*>{label}</text>", svg)
        assert found, label
        x, y = float(found.group(1)), float(found.group(2))
        caps = [cy for cx, cy in uses if abs(cx - x) < 1.0]
        assert len(caps) >= 2, (label, caps)
        assert y < min(caps) - 1.0, (label, y, caps)  # SVG y grows downwards
