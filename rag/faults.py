"""Named crash points, for the crash tests: a process told to die at a stage dies there.

`crash_point("mid_upsert")` kills the calling process with SIGKILL (no cleanup, no atexit, as
the kernel's out-of-memory killer or a power cut would) when the environment variable
`RAGTEST_KILL_AT` names that stage; otherwise it does nothing. The variable is read at the
call, so nothing is set up at import and a normal run pays one dictionary lookup per batch.

Stages, in the order an ingest meets them: `after_parse` (a file's parts received),
`after_embed` (a batch embedded, nothing written), `mid_upsert` (chunk vectors written, the
summaries not), `after_vectors` (every vector written, nothing committed),
`after_lexical` (inside the catalog transaction: BM25 rows and visibility written, not
committed), `after_commit` (committed, replaced chunks not yet deleted); on PostgreSQL also
`mid_pack` (inside a write's transaction: BM25 postings moved into their arrays, the
counters not yet changed).
"""

from __future__ import annotations

import os
import signal

__all__ = ["STAGES", "VARIABLE", "crash_point"]

VARIABLE = "RAGTEST_KILL_AT"
STAGES = (
    "after_parse",
    "after_embed",
    "mid_upsert",
    "after_vectors",
    "after_lexical",
    "after_commit",
)


def crash_point(stage: str) -> None:
    """Die here, at once, if the crash test asked for this stage."""
    if os.environ.get(VARIABLE) == stage:
        os.kill(os.getpid(), signal.SIGKILL)
