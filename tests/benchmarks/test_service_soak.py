"""The service soak under pytest (slow; prints figures): 16 clients mixing uploads,
deletes, searches and answers against a real `rag serve` for SOAK_SECONDS (default 600);
0 errors, 0 documents lost, duplicated or stale at the end, `rag doctor` clean, and the
server's memory (with its parsers) in the last minute within 25% of the second minute's.

    SOAK_SECONDS=600 pytest -m slow -s tests/benchmarks/test_service_soak.py
"""

from __future__ import annotations

import os

import pytest

from tests.benchmarks.soak_service import report, soak

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]


def test_service_soak() -> None:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    result = soak(seconds, clients=int(os.environ.get("SOAK_CLIENTS", "16")))
    print("\n" + report(result))
    assert result.errors == [] and result.stale == []
    assert (result.lost, result.duplicated, result.unexpected) == ([], [], [])
    assert result.doctor_exit == 0
    for server_only in (False, True):
        early, late, _ = result.memory(server_only)
        assert late <= 1.25 * early, f"memory grew from {early:.0f} MB to {late:.0f} MB"
