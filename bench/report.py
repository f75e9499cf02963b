"""The benchmark's summary (medians over repetitions, ratios from them) and its table."""

from __future__ import annotations

import statistics
from typing import Any

__all__ = ["summarize", "table"]

Runs = dict[str, list[dict[str, Any]]]


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs if key in r)


def summarize(ingest: Runs, query: Runs, documents: int) -> dict[str, Any]:
    """Per system: ingest seconds (the bare model: encode only), documents per second,
    chunks, peak RSS, query p50/p95 and nDCG@10 (default and dense-only paths); the ratios
    the targets are stated in."""
    rows: dict[str, dict[str, Any]] = {}
    for system, runs in ingest.items():
        seconds = _median(runs, "encode_s" if system == "bare" else "wall_s")
        rows[system] = {
            "ingest_s": seconds,
            "docs_per_s": documents / seconds,
            "chunks": int(_median(runs, "chunks")),
            "peak_rss_mb": _median(runs, "peak_rss_mb"),
        }
    for name, runs in query.items():
        system, mode = name.split(":")
        suffix = "" if mode == "default" else f"_{mode}"
        row = rows.setdefault(system, {})
        for key in ("p50_ms", "p95_ms", "ndcg@10"):
            row[key + suffix] = _median(runs, key)
    ours = rows.get("ours", {})
    ratios: dict[str, float] = {}
    for other in ("langchain", "llamaindex", "bare"):
        if "docs_per_s" in rows.get(other, {}) and "docs_per_s" in ours:
            ratios[f"ingest speed ours/{other}"] = ours["docs_per_s"] / rows[other]["docs_per_s"]
        if "peak_rss_mb" in rows.get(other, {}) and "peak_rss_mb" in ours and other != "bare":
            ratios[f"ingest peak RSS ours/{other}"] = (
                ours["peak_rss_mb"] / rows[other]["peak_rss_mb"]
            )
    base = rows.get("langchain", {}).get("p50_ms")
    for key, label in (("p50_ms", "default"), ("p50_ms_dense", "dense-only")):
        if base and key in ours:
            ratios[f"query p50 ours {label}/langchain"] = ours[key] / base
    return {"systems": rows, "ratios": ratios}


def _cell(row: dict[str, Any], key: str, spec: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


def table(report: dict[str, Any]) -> list[str]:
    """The summary as Markdown lines, headed by what was measured where."""
    lines = [
        f"{report['dataset']}: {report['documents']} documents, {report['queries']} queries; "
        f"{report['machine']}; {report['date']}, commit {report.get('commit') or '?'}; "
        f"medians of {report['repeat']} runs",
        "",
        "| system | ingest s | docs/s | chunks | peak RSS MB | query p50 ms | p95 ms | nDCG@10 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system, row in report["summary"]["systems"].items():
        name = "bare model (encode only)" if system == "bare" else system
        lines.append(
            f"| {name} | {_cell(row, 'ingest_s', '.1f')} | {_cell(row, 'docs_per_s', '.1f')} "
            f"| {_cell(row, 'chunks', 'd')} | {_cell(row, 'peak_rss_mb', '.0f')} "
            f"| {_cell(row, 'p50_ms', '.1f')} | {_cell(row, 'p95_ms', '.1f')} "
            f"| {_cell(row, 'ndcg@10', '.4f')} |"
        )
        if "p50_ms_dense" in row:
            lines.append(
                f"| {name}, dense only | | | | | {_cell(row, 'p50_ms_dense', '.1f')} "
                f"| {_cell(row, 'p95_ms_dense', '.1f')} | {_cell(row, 'ndcg@10_dense', '.4f')} |"
            )
    lines.append("")
    lines += [f"{key}: {value:.2f}x" for key, value in report["summary"]["ratios"].items()]
    return lines
