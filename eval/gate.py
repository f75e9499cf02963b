"""The regression gate: `rag eval run ... --baseline results.json --fail-under ndcg@10=-0.01`.

Each tolerance is the change a metric's mean may show against the baseline run before the
gate fails: `ndcg@10=-0.01` fails when nDCG@10 drops by more than 0.01; `0` fails on any
drop; a positive value demands a gain. Systems are matched by name; a baseline with a single
system is compared with every system of the new run when no name matches. A metric the
baseline has and the new run lacks (or only has unjudged) fails too: a gate that passes
because a metric vanished would hide exactly the regression it is for.

Example:
    >>> parse_tolerances("ndcg@10=-0.01,faithfulness=-0.02")
    {'ndcg@10': -0.01, 'faithfulness': -0.02}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eval.results import Results, SystemRun
from rag.errors import ConfigError

__all__ = ["Failure", "check_gate", "check_metrics", "parse_tolerances"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A metric of a system that moved beyond its tolerance."""

    system: str
    metric: str
    baseline: float
    current: float
    tolerance: float

    def __str__(self) -> str:
        if math.isnan(self.current):
            return (
                f"{self.system}: {self.metric} is missing (baseline {self.baseline:.4f}); "
                "the run produced no score for it"
            )
        change = self.current - self.baseline
        return (
            f"{self.system}: {self.metric} {self.current:.4f} vs baseline {self.baseline:.4f} "
            f"({change:+.4f}, allowed {self.tolerance:+.4f})"
        )


def parse_tolerances(text: str) -> dict[str, float]:
    """`metric=change,...` as a mapping.

    Raises:
        ConfigError: A part is not `metric=number`.
    """
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(part)
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--fail-under takes metric=change pairs such as ndcg@10=-0.01; got {part!r}"
            ) from None
    if not out:
        raise ConfigError("--fail-under is empty; give metric=change pairs such as ndcg@10=-0.01")
    return out


def check_metrics(baseline: Results, tolerances: dict[str, float]) -> None:
    """Check, before a run, that the baseline has every metric the tolerances name.

    Raises:
        ConfigError: A tolerance names a metric the baseline does not have.
    """
    known = set(baseline.used_metrics())
    unknown = sorted(set(tolerances) - known)
    if unknown:
        raise ConfigError(
            f"the baseline has no metric {', '.join(unknown)}; it has {', '.join(sorted(known))}"
        )


def check_gate(current: Results, baseline: Results, tolerances: dict[str, float]) -> list[Failure]:
    """Every metric of every matched system that moved beyond its tolerance.

    Raises:
        ConfigError: A tolerance names a metric the baseline does not have, or no system
            of the run matches one of the baseline.
    """
    check_metrics(baseline, tolerances)
    pairs = _pairs(current, baseline)
    failures = []
    for ours, theirs in pairs:
        for metric, tolerance in tolerances.items():
            before = theirs.summary(metric)
            if before is None or before.n == 0:
                continue
            after = ours.summary(metric)
            value = after.mean if after is not None and after.n else float("nan")
            if math.isnan(value) or value - before.mean < tolerance - 1e-12:
                failures.append(Failure(ours.name, metric, before.mean, value, tolerance))
    return failures


def _pairs(current: Results, baseline: Results) -> list[tuple[SystemRun, SystemRun]]:
    pairs = [(s, b) for s in current.systems if (b := baseline.system(s.name)) is not None]
    if pairs:
        return pairs
    if len(baseline.systems) == 1:
        return [(s, baseline.systems[0]) for s in current.systems]
    raise ConfigError(
        "no system of this run matches the baseline's ("
        + ", ".join(s.name for s in baseline.systems)
        + "); name the configurations alike (systems are named after their config files)"
    )
