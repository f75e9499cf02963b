"""The report's charts, drawn by matplotlib as inline SVG (no network, no JavaScript).

- `metric_bars`: one bar per system, its mean, with the 95% bootstrap interval as error bars.
- `latency_boxes`: each system's per-question latency distribution (box and whiskers, the
  5th to 95th percentile, dots beyond).

Text stays text in the SVG (`svg.fonttype = none`), so the browser draws it with the page's
fonts, Chinese included, and the file stays small.

Example:
    >>> svg = metric_bars("ndcg@10", [("bm25", summary)])  # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from eval.results import Summary

__all__ = ["latency_boxes", "metric_bars"]

_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display; SVG only
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=96)
    return figure, figure.add_subplot()


def _svg(figure: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rag-eval"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the XML prologue and DOCTYPE do not belong inline


def metric_bars(metric: str, bars: Sequence[tuple[str, Summary]]) -> str:
    """A bar per system with its 95% interval, as an SVG element."""
    figure, axes = _figure(max(3.2, 1.1 * len(bars) + 1.5), 2.8)
    names = [name for name, _ in bars]
    means = [0.0 if math.isnan(s.mean) else s.mean for _, s in bars]
    low = [
        0.0 if math.isnan(s.low) else max(m - s.low, 0.0)
        for m, (_, s) in zip(means, bars, strict=True)
    ]
    high = [
        0.0 if math.isnan(s.high) else max(s.high - m, 0.0)
        for m, (_, s) in zip(means, bars, strict=True)
    ]
    colours = [_COLOURS[i % len(_COLOURS)] for i in range(len(bars))]
    axes.bar(names, means, yerr=[low, high], capsize=4, color=colours)
    for x, (mean, top, (_, summary)) in enumerate(zip(means, high, bars, strict=True)):
        label = "n/a" if summary.n == 0 else f"{mean:.3f}"
        axes.annotate(
            label,
            (x, mean + top),  # above the interval's cap, not across it
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    axes.set_title(f"{metric} (mean, 95% CI)", fontsize=10)
    axes.set_ylim(0, 1.12)  # every metric is a share in [0, 1]: one scale for all charts
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def latency_boxes(stage: str, series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Each system's latency distribution for `stage`, as an SVG element."""
    shown = [(name, list(values)) for name, values in series if values]
    figure, axes = _figure(max(3.2, 1.1 * len(shown) + 1.5), 2.8)
    boxes = axes.boxplot(
        [values for _, values in shown],
        tick_labels=[name for name, _ in shown],
        whis=(5, 95),
        patch_artist=True,
        flierprops={"markersize": 2},
    )
    for i, patch in enumerate(boxes["boxes"]):
        patch.set_facecolor(_COLOURS[i % len(_COLOURS)])
    axes.set_title(f"{stage} latency per question (ms)", fontsize=10)
    axes.set_yscale("log")
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
