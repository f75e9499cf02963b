"""The `rag` command: ingest documents, ask questions, delete documents, evaluate retrieval.

One module per command group registers its commands and their handlers; `main` parses,
loads the configuration once, and runs the handler the parsed command names.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import FrameType
from typing import Any

from rag.cli import ask, doctor, evaluate, index_commands, models, serve, worker
from rag.cli.exit_codes import HELP, ExitCode
from rag.cli.output import err, error, warn
from rag.config import RagConfig, derive, load_config, unknown_variables
from rag.errors import EmptyIndexError, RagError

__all__ = ["ExitCode", "main"]

# Each registers its commands, with `handler(config, args) -> exit code` as a default.
GROUPS = (index_commands, doctor, ask, models, evaluate, serve, worker)

_EPILOG = f"""exit codes:
{HELP}

environment:
  RAG_CONFIG            the TOML config file (default: ./rag.toml)
  RAG_<SECTION>__<KEY>  any setting, e.g. RAG_DATA_DIR=.rag, RAG_RETRIEVAL__TOP_K=8,
                        RAG_GENERATOR__BACKEND=openai (a name that matches no setting warns)
"""


def _version() -> str:
    try:
        return version("rag-framework")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description=(__doc__ or "").splitlines()[0],
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML config file (default: $RAG_CONFIG or ./rag.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--version", action="version", version=f"rag {_version()}")
    parser.add_argument("--kb", help="the knowledge base to act on (default: default)")
    # Also accepted after the command (`rag eval beir DIR --config FILE`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
    common.add_argument(
        "--kb", default=argparse.SUPPRESS, help="the knowledge base to act on (default: default)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub, common)
    return parser


def _stop(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C and SIGTERM: say so at once, then stop as Ctrl-C does (finished work is kept;
    a second Ctrl-C while stopping quits without waiting)."""
    err.print("stopping…", markup=False)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (`ExitCode`)."""
    args = _parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # reports embed the command
    # Model loading draws its own progress bars; the CLI draws one of its own instead.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Installed even where the parent started us with SIGINT ignored (a script's background
    # job): `kill -INT` on the process group must stop a long ingest as Ctrl-C does.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    config: RagConfig | None = None
    try:
        for warning in unknown_variables(os.environ):
            warn(warning)
        config = load_config(args.config)
        if args.kb:
            config = derive(config, kb=args.kb)
        return int(args.handler(config, args))
    except EmptyIndexError as exc:
        error(str(exc), label="nothing to answer from")
        return ExitCode.USAGE
    except RagError as exc:
        error(str(exc))
        return ExitCode.USAGE
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, traceback to a file
        log = _log_traceback(config)
        error(f"internal error: {type(exc).__name__}: {exc} (traceback in {log})")
        return ExitCode.INTERNAL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_traceback(config: RagConfig | None) -> Path:
    """Append the current traceback to the error log: `<data_dir>/errors.log`, or the
    temporary folder's `rag-errors.log` when there is no data dir."""
    folder = config.data_dir if config is not None and config.data_dir.is_dir() else None
    log = (folder or Path(tempfile.gettempdir())) / ("errors.log" if folder else "rag-errors.log")
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"--- rag {' '.join(sys.argv[1:])}\n{traceback.format_exc()}\n")
    return log


def run(argv: Any = None) -> None:
    """Console entry point."""
    sys.exit(main(argv))
