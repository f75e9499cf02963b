"""The report folder of an evaluation: `results.json`, `report.md` and `report.html`.

`report.html` is one self-contained file (no network, works offline): the summary table
(mean and 95% bootstrap interval per metric, unjudged counts, latency percentiles), each
system against the first (mean difference and paired permutation p-value), a bar chart per
metric and the latency distributions (matplotlib SVG, inline), and a drill-down per question
with each system side by side: the passages it retrieved, its answer, the judge's verdicts
and its scores. Configurations, index manifests, library versions and the command line are
embedded in all three files.

Example:
    >>> write_report(results, Path("eval-out"))  # doctest: +SKIP
    PosixPath('eval-out')
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from eval.charts import latency_boxes, metric_bars
from eval.results import Comparison, Results, Summary
from eval.stats import percentile

__all__ = ["SIGNIFICANT", "markdown", "verdict", "write_report"]

SIGNIFICANT = 0.05  # p-values below this are marked in the tables
_TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"
STAGES = ("retrieval", "answer")


def write_report(results: Results, folder: Path) -> Path:
    """Write the three report files into `folder` (created if needed); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = results.to_json()
    _atomic(folder / "results.json", json.dumps(data, indent=1, ensure_ascii=False))
    _atomic(folder / "report.md", markdown(results))
    _atomic(folder / "report.html", html(results, data))
    return folder


def _atomic(path: Path, text: str) -> None:
    """Write via a temporary file, so a reader never sees half a report."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _cell(summary: Summary | None) -> str:
    if summary is None:
        return "–"
    if summary.n == 0:
        return f"unjudged ({summary.unjudged})"
    text = f"{summary.mean:.4f} [{summary.low:.3f}, {summary.high:.3f}]"
    return text + (f" ({summary.unjudged} unjudged)" if summary.unjudged else "")


def _latency(results: Results) -> list[tuple[str, list[float]]]:
    """Per system: p50 and p95 of each stage that has latencies."""
    rows = []
    for system in results.systems:
        cells = []
        for stage in STAGES:
            values = system.latencies(stage)
            cells += [percentile(values, 50), percentile(values, 95)]
        rows.append((system.name, cells))
    return rows


def _p(comparison: Comparison) -> str:
    mark = " *" if comparison.p_value < SIGNIFICANT else ""
    return f"{comparison.p_value:.4f}{mark}"


def verdict(results: Results) -> list[str]:
    """The report's conclusion in words, on the primary metric: which system scores highest,
    and for each system against the first which is better, by how much, and whether the
    paired permutation test calls the difference significant."""
    primary = results.primary
    scored = [
        (system.name, summary)
        for system in results.systems
        if (summary := system.summary(primary)) is not None and summary.n
    ]
    if not scored:
        return [f"No system has a {primary} score: no verdict."]
    name, best = max(scored, key=lambda pair: pair[1].mean)
    lines = [f"On {primary} (the primary metric) {name} scores highest: {best.mean:.4f}."]
    if len(results.systems) < 2:
        return [*lines, "One system ran: there is nothing to compare it with."]
    for c in results.comparisons():
        if c.metric != primary:
            continue
        if c.delta == 0:
            lines.append(f"{c.name} and {c.baseline} score the same on {c.n} questions.")
            continue
        better, worse = (c.name, c.baseline) if c.delta > 0 else (c.baseline, c.name)
        said = f"{better} beats {worse} by {abs(c.delta):.4f} on {c.n} questions: "
        if c.p_value < SIGNIFICANT:
            said += f"a significant difference (p = {c.p_value:.4f} < {SIGNIFICANT})."
        else:
            said += (
                f"not significant (p = {c.p_value:.4f} ≥ {SIGNIFICANT}); these questions do not "
                "show that either is better."
            )
        lines.append(said)
    return lines


def markdown(results: Results) -> str:
    """The report as Markdown: what ran, the summary, the comparisons."""
    metrics = results.used_metrics()
    meta = results.meta
    lines = [
        f"# {results.title}",
        "",
        f"- dataset: {results.dataset['name']} ({results.dataset['path']}), "
        f"{len(results.dataset['questions'])} questions",
        f"- command: `{meta.get('command', '')}`",
        f"- created: {meta.get('created_at', '')}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in meta.get('versions', {}).items())}",
        f"- primary metric: {results.primary}",
        "",
        "## Verdict",
        "",
        *(f"- {line}" for line in verdict(results)),
        "",
        "## Summary (mean [95% bootstrap CI])",
        "",
        "| metric | " + " | ".join(s.name for s in results.systems) + " |",
        "|---|" + "---:|" * len(results.systems),
    ]
    for metric in metrics:
        cells = [_cell(system.summary(metric)) for system in results.systems]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += _grid(results)
    lines += ["", "## Latency (ms per question)", ""]
    head = [f"{stage} {q}" for stage in STAGES for q in ("p50", "p95")]
    lines += ["| system | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for name, values in _latency(results):
        shown = ["–" if math.isnan(v) else f"{v:.1f}" for v in values]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    comparisons = results.comparisons()
    if comparisons:
        lines += [
            "",
            f"## Against {results.systems[0].name} (paired permutation test, two-sided; "
            f"* p < {SIGNIFICANT})",
            "",
            "| system | metric | difference | p-value | questions |",
            "|---|---|---:|---:|---:|",
        ]
        for c in comparisons:
            lines.append(f"| {c.name} | {c.metric} | {c.delta:+.4f} | {_p(c)} | {c.n} |")
    lines += ["", "## Systems", ""]
    for system in results.systems:
        lines.append(f"- **{system.name}**: {system.description}")
    lines += [
        "",
        "Configurations, index manifests and every question's passages, answers and "
        "verdicts are in results.json and report.html.",
        "",
    ]
    return "\n".join(lines)


def grid(results: Results) -> list[tuple[str, str, list[str]]]:
    """The models × retrieval table (`--model`): (metric, model, [no-RAG cell, RAG cell])
    for each answer metric both sides have."""
    models = results.meta.get("grid", {})
    rows = []
    for metric in results.used_metrics():
        found = []
        for model, names in models.items():
            cells = []
            for side in ("no_rag", "rag"):
                system = results.system(names.get(side, ""))
                cells.append(_cell(system.summary(metric) if system else None))
            found.append((metric, model, cells))
        if any("–" not in cells for _, _, cells in found):
            rows += found
    return rows


def _grid(results: Results) -> list[str]:
    rows = grid(results)
    if not rows:
        return []
    lines = ["", "## Models × retrieval", "", "| metric | model | no RAG | RAG |"]
    lines.append("|---|---|---:|---:|")
    lines += [f"| {metric} | {model} | {c[0]} | {c[1]} |" for metric, model, c in rows]
    return lines


def html(results: Results, data: dict[str, Any]) -> str:
    """The self-contained HTML report."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATE.parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    metrics = results.used_metrics()
    charts = []
    for metric in metrics:
        bars = [(s.name, summary) for s in results.systems if (summary := s.summary(metric))]
        charts.append((metric, metric_bars(metric, bars)))
    latency = []
    for stage in STAGES:
        series = [(s.name, s.latencies(stage)) for s in results.systems]
        if any(values for _, values in series):
            latency.append((stage, latency_boxes(stage, series)))
    questions = data["dataset"]["questions"]
    return environment.get_template(_TEMPLATE.name).render(
        results=results,
        metrics=metrics,
        cell=_cell,
        latency_rows=_latency(results),
        grid=grid(results),
        stages=STAGES,
        comparisons=results.comparisons(),
        verdict=verdict(results),
        significant=SIGNIFICANT,
        charts=charts,
        latency_charts=latency,
        questions=questions,
        systems=results.systems,
        pretty=lambda value: json.dumps(value, indent=1, ensure_ascii=False),
        isnan=math.isnan,
    )
