"""The server's memory trimmer hands freed memory back: in a fresh process, 200 MB of
blocks allocated through glibc and freed stay resident (the allocator keeps them) until the
trimmer's thread runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.memory import MemoryTrimmer, malloc_trim

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent(
    """
    import time
    from pathlib import Path
    from api.memory import MemoryTrimmer

    def rss_mb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    blocks = [bytes(4000) for _ in range(50_000)]  # glibc's heap, not Python's small objects
    pin = bytes(4000)  # allocated last: the top of the heap stays in use, nothing shrinks it
    del blocks
    freed = rss_mb()
    trimmer = MemoryTrimmer(every_s=0.1)
    deadline = time.monotonic() + 10
    while rss_mb() > freed / 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    trimmer.close()
    print(f"{freed:.0f} {rss_mb():.0f} {trimmer.active}")
    """
)


@pytest.mark.skipif(malloc_trim() is None, reason="not glibc: there is no malloc_trim to call")
def test_freed_memory_goes_back_to_the_system() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
    )
    freed, trimmed, active = done.stdout.split()
    assert active == "True"
    assert float(freed) > 150  # the freed blocks were still resident
    assert float(trimmed) < float(freed) / 2, done.stdout  # until the trimmer ran


def test_an_interval_of_zero_starts_no_thread() -> None:
    trimmer = MemoryTrimmer(every_s=0)
    assert not trimmer.active
    trimmer.close()
