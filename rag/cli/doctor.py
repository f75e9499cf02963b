"""`rag doctor [--kb NAME] [--fix]`: check every index of every knowledge base for orphans."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rag.cli.exit_codes import ExitCode
from rag.cli.output import out, safe
from rag.config import RagConfig
from rag.runtime import Runtime

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag doctor` to the `rag` parser."""
    doctor = sub.add_parser(
        "doctor",
        help="check each knowledge base's catalog, BM25 tables and vector collections "
        "agree; --fix repairs what does not",
        parents=[common],
    )
    doctor.add_argument("--fix", action="store_true", help="repair what is found")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(handler=_doctor)


def _doctor(config: RagConfig, args: argparse.Namespace) -> int:
    from rag.doctor import check_index

    with Runtime.open(config, write=args.fix, model=False) as runtime:
        names = [config.kb] if getattr(args, "kb", None) else sorted(runtime.kbs())
        checkups = [check_index(runtime.kb(name).index, name, fix=args.fix) for name in names]
    if args.json:
        out.print_json(json.dumps([c.to_json() for c in checkups]))
    for checkup in checkups if not args.json else []:
        state = "consistent" if not checkup.findings else ("repaired" if checkup.ok else "damaged")
        out.print(
            f"{safe(checkup.kb)}: {checkup.documents} documents, {checkup.chunks} chunks: {state}",
            markup=False,
        )
        for finding in checkup.findings:
            done = "repaired" if finding.repaired else "found"
            shown = ", ".join(safe(e) for e in finding.examples)
            out.print(f"  {finding.kind}: {finding.count} {done} (e.g. {shown})", markup=False)
    if all(c.ok for c in checkups):
        return ExitCode.OK
    if not args.json:
        out.print("run `rag doctor --fix` to repair", markup=False)
    return ExitCode.DAMAGED
