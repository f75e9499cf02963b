"""`rag ingest`, `rag delete`, `rag reindex`, `rag stats`: building and keeping the index."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from rag.cli.exit_codes import ExitCode
from rag.cli.output import Bar, err, error, out, progress, safe
from rag.config import RagConfig, derive, load_config
from rag.manifest import DEFAULT_KB
from rag.runtime import Runtime
from rag.state import place_of

if TYPE_CHECKING:
    from ingest.isolation import ParserPool

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the index commands to the `rag` parser."""
    ingest = sub.add_parser(
        "ingest", help="parse, chunk, embed and index files and folders", parents=[common]
    )
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders")
    ingest.add_argument("--jsonl", type=Path, help="a BEIR corpus.jsonl (_id, title, text)")
    ingest.add_argument(
        "--prune", action="store_true", help="remove documents whose files are gone"
    )
    ingest.add_argument("--quiet", "-q", action="store_true", help="no progress bar, failures only")
    ingest.add_argument(
        "--follow-links",
        action="store_true",
        help="follow symbolic links that lead out of the folders (default: skip them)",
    )
    ingest.add_argument(
        "--retry-failed",
        action="store_true",
        help="parse again files that failed before and have not changed since",
    )
    ingest.add_argument(
        "--server",
        metavar="URL",
        help="upload to a running `rag serve` at URL instead of writing the index here",
    )
    ingest.add_argument(
        "--api-key", help="the server's API key for --server (default: $RAG_API_KEY)"
    )
    ingest.set_defaults(handler=_ingest)

    delete = sub.add_parser(
        "delete", help="remove one file's documents (or one document id)", parents=[common]
    )
    delete.add_argument("source")
    delete.set_defaults(handler=_delete)

    reindex = sub.add_parser(
        "reindex",
        help="copy the index to another store (--to), or rebuild it from its sources",
        parents=[common],
    )
    how = reindex.add_mutually_exclusive_group(required=True)
    how.add_argument("--to", type=Path, help="the target's TOML config (copy, no re-embedding)")
    how.add_argument(
        "--from-sources",
        action="store_true",
        help="rebuild the knowledge base's index from its recorded source files (a lost "
        "or corrupt catalog or store)",
    )
    reindex.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    reindex.set_defaults(handler=_reindex)

    stats = sub.add_parser(
        "stats",
        help="counts per collection, model, dimension, backend, disk size",
        parents=[common],
    )
    stats.set_defaults(handler=_stats)


def _ingest(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.isolation import ParserPool

    if not args.paths and args.jsonl is None:
        error("give files or folders to ingest, or --jsonl FILE")
        return ExitCode.USAGE
    if args.server:
        return _ingest_remote(config, args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    with ParserPool(config.parser, log_file=config.data_dir / "parser.log") as pool:
        if args.paths:
            pool.start()  # a parser loads its libraries while the model loads
        return _ingest_local(config, args, pool)


def _ingest_local(config: RagConfig, args: argparse.Namespace, pool: ParserPool) -> int:
    from ingest.run import ingest_jsonl, ingest_paths

    with Runtime.open(config, write=True) as runtime, progress(args.quiet) as display:
        known = runtime.state.registry().read()
        if known is not None and config.kb not in known.kbs and config.kb != DEFAULT_KB:
            out.print(f"creating knowledge base {config.kb!r}", markup=False)
        kb = runtime.kb(create="")
        reports = []
        if args.paths:
            reports.append(
                ingest_paths(
                    kb,
                    args.paths,
                    prune=args.prune,
                    progress=Bar(display),
                    follow_links=args.follow_links,
                    retry_failed=args.retry_failed,
                    pool=pool,
                )
            )
        if args.jsonl is not None:
            reports.append(ingest_jsonl(kb, args.jsonl, prune=args.prune, progress=Bar(display)))
    for report in reports:
        if report.resumed is not None:
            out.print(
                f"resuming an interrupted ingest ({report.resumed} files were left)", markup=False
            )
        _summary(report, quiet=args.quiet)
        if report.interrupted is not None:
            written = report.count("parsed")
            err.print(
                f"interrupted: {written} files written, {report.interrupted} left; run the same "
                "command to finish",
                markup=False,
            )
            return ExitCode.INTERRUPTED
    return max(r.exit_code for r in reports)


def _ingest_remote(config: RagConfig, args: argparse.Namespace) -> int:
    from rag.cli.remote import upload_paths

    if args.jsonl is not None or args.prune:
        error("--server uploads files and folders; --jsonl and --prune work on a local index")
        return ExitCode.USAGE
    key = args.api_key or os.environ.get("RAG_API_KEY")
    with progress(args.quiet) as display:
        report = upload_paths(config, args.paths, args.server, key, Bar(display))
    _summary(report, quiet=args.quiet)
    return report.exit_code


def _summary(report: Any, quiet: bool) -> None:
    failed = [r for r in report.results if r.status == "failed"]
    for result in report.results:
        if result.status == "skipped" and result.reason and not quiet:
            out.print(f"skipped: {safe(result.source)}: {safe(result.reason)}", markup=False)
        if result.status == "parsed" and result.reason:  # what the parser dropped
            out.print(f"warning: {safe(result.source)}: {safe(result.reason)}", markup=False)
    for result in failed:
        out.print(f"failed: {safe(result.source)}: {safe(result.reason)}", markup=False)
    parsed, skipped = report.count("parsed"), report.count("skipped")
    removed = report.count("removed")
    if not quiet:
        table = Table(title="ingest summary", title_justify="left")
        names = ("parsed", "skipped", "failed", "removed", "chunks written", "reused", "time")
        for name in names:
            table.add_column(name, justify="right")
        table.add_row(
            str(parsed),
            str(skipped),
            str(len(failed)),
            str(removed),
            str(report.chunks_written),
            str(report.reused),
            f"{report.seconds:.1f} s",
        )
        out.print(table)
    interrupted = getattr(report, "interrupted", None) is not None
    if parsed == 0 and removed == 0 and not failed and not interrupted:
        out.print("nothing changed: every file is already indexed (nothing written)")
    elif quiet:
        out.print(
            f"parsed {parsed}, skipped {skipped}, failed {len(failed)}, removed {removed}, "
            f"{report.chunks_written} chunks written ({report.reused} vectors reused) in "
            f"{report.seconds:.1f} s"
        )


def _delete(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.run import delete_source

    with Runtime.open(config, write=True, model=False) as runtime:
        removed = delete_source(runtime.kb(), args.source)
    if not removed:
        err.print(
            f"no indexed document matches {safe(repr(args.source))}; nothing removed", markup=False
        )
        return ExitCode.INPUTS_FAILED
    for item in removed:
        out.print(f"removed {safe(item)}", markup=False)
    return ExitCode.OK


def _reindex(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.reindex import reindex

    if args.from_sources:
        return _rebuild(config, args)
    if not args.to.is_file():
        error(f"{args.to} does not exist; give the target's config file")
        return ExitCode.USAGE
    target = derive(load_config(args.to), kb=config.kb)
    with Runtime.open(config, model=False) as runtime, progress(args.quiet) as display:
        report = reindex(runtime.kb(), target, Bar(display))
    out.print(
        f"copied {report.chunks} chunks and {report.summaries} summaries from "
        f"{config.store.backend} ({place_of(config)[1]}) to {target.store.backend} "
        f"({place_of(target)[1]}) in {report.seconds:.1f} s; counts verified",
        markup=False,
    )
    return ExitCode.OK


def _rebuild(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.rebuild import clear_index, rebuild

    with Runtime.open(config, write=True) as runtime:  # the write lock first, then the model
        held = clear_index(config, runtime.state)
        out.print(
            f"rebuilding knowledge base {config.kb!r} from {len(held.files)} recorded files "
            f"and {len(held.docs)} documents",
            markup=False,
        )
        with progress(args.quiet) as display:
            report = rebuild(runtime.kb(create=""), held, Bar(display))
    for reason, names in (
        ("gone since it was ingested", report.missing),
        ("uploaded or posted as text: not kept, upload it again", report.not_rebuildable),
        ("changed since it was ingested: indexed as it is now", report.changed),
    ):
        for name in names:
            err.print(f"  {safe(name)}: {reason}", markup=False)
    for ingested in report.ingested:
        for result in ingested.results:
            if result.status == "failed":
                err.print(f"  {safe(result.source)}: failed: {safe(result.reason)}", markup=False)
    out.print(
        f"rebuilt {report.documents} documents from {report.files} sources in "
        f"{report.seconds:.1f} s; {len(report.missing)} gone, "
        f"{len(report.not_rebuildable)} not rebuildable, {report.failed} failed",
        markup=False,
    )
    lost = report.missing or report.not_rebuildable or report.failed
    return ExitCode.INPUTS_FAILED if lost else ExitCode.OK


def _stats(config: RagConfig, args: argparse.Namespace) -> int:
    from ingest.reindex import stats

    with Runtime.open(config, model=False) as runtime:
        figures = stats(runtime.kb())
        app_kbs = runtime.kbs()
    table = Table(title=f"index in {figures.where}", title_justify="left", show_header=False)
    table.add_row("knowledge base", f"{config.kb} (all: {', '.join(sorted(app_kbs))})")
    table.add_row("backend", figures.backend)
    table.add_row("store uri", figures.uri)
    table.add_row("embedding model", f"{figures.model} (dimension {figures.dimension})")
    table.add_row("documents", str(figures.documents))
    for name, count in figures.collections.items():
        table.add_row(f"collection {name}", str(count))
    table.add_row("disk size (data dir)", f"{figures.disk_bytes / 1e6:.1f} MB")
    out.print(table)
    return ExitCode.OK
