"""The `rag` command's exit codes, one meaning each."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """What a `rag` command's exit status means."""

    OK = 0  # done
    INPUTS_FAILED = 1  # some inputs failed (a file did not ingest, a delete matched nothing)
    USAGE = 2  # the command could not run: bad flags or configuration, empty or locked index
    FALLBACK = 3  # `rag ask` answered without the model (unreachable): the extractive answer
    REGRESSION = 4  # `rag eval run --fail-under`: a metric fell beyond its tolerance
    DAMAGED = 5  # `rag doctor`: the index has inconsistencies it did not repair (no --fix)
    INTERNAL = 70  # a bug: one line on stderr, the traceback in the error log (EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; what was finished is kept


HELP = "\n".join(
    f"  {code.value:<4}{text}"
    for code, text in (
        (ExitCode.OK, "done"),
        (ExitCode.INPUTS_FAILED, "some inputs failed (a file did not ingest, nothing to delete)"),
        (ExitCode.USAGE, "could not run: bad flags or configuration, empty or locked index"),
        (ExitCode.FALLBACK, "rag ask answered without the model (extractive answer)"),
        (ExitCode.REGRESSION, "rag eval run --fail-under: a metric fell beyond its tolerance"),
        (ExitCode.DAMAGED, "rag doctor: the index is inconsistent (repair with --fix)"),
        (ExitCode.INTERNAL, "internal error: the traceback is in the error log named"),
        (ExitCode.INTERRUPTED, "interrupted (Ctrl-C, SIGTERM); finished work is kept"),
    )
)
