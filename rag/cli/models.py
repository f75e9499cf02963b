"""`rag models check` and `rag models ollama-create`: the served fine-tuned model;
`rag models prepare`: the embedding model made ready (exported once for the onnx and
openvino backends)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rag.cli.ask import generation_flags, overrides
from rag.cli.exit_codes import ExitCode
from rag.cli.output import err, error, out, warn
from rag.config import RagConfig
from rag.errors import ConfigError
from rag.runtime import connect_backend

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag models ...` to the `rag` parser."""
    models = sub.add_parser(
        "models",
        help="check the served model; register a GGUF with Ollama; prepare the embedder",
    )
    actions = models.add_subparsers(dest="action", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="load the embedding model once (onnx and openvino export it on first use)",
        parents=[common],
    )
    prepare.set_defaults(handler=_prepare)
    check = actions.add_parser(
        "check", help="list the served models; is the configured one there?", parents=[common]
    )
    generation_flags(check)
    check.set_defaults(handler=_check)
    create = actions.add_parser(
        "ollama-create",
        help="write a Modelfile for a GGUF and register it with Ollama",
        parents=[common],
    )
    create.add_argument("--gguf", type=Path, required=True, help="the model file")
    create.add_argument("--name", required=True, help="the name to serve it under")
    create.add_argument("--system", help="system prompt (text, or @FILE)")
    create.add_argument("--template", help="Go chat template (text, or @FILE)")
    create.add_argument(
        "--param", action="append", default=[], help="PARAMETER as name=value (repeatable)"
    )
    create.add_argument("--base-url", help="Ollama's URL (default: the configured one)")
    create.set_defaults(handler=_create)


def _prepare(config: RagConfig, args: argparse.Namespace) -> int:
    import time

    from rag.embed import create_embedder

    started = time.monotonic()
    embedder = create_embedder(config.embedder)
    embedder.warm_up()
    model = embedder.fingerprint
    out.print(
        f"embedding model {model.name} ready on {model.backend} (dimension {model.dimension}, "
        f"sha256 {model.sha256[:12]}) in {time.monotonic() - started:.1f} s",
        markup=False,
    )
    return ExitCode.OK


def _create(config: RagConfig, args: argparse.Namespace) -> int:
    from rag.generate.serving import parse_parameters, register_gguf

    file, base_url = register_gguf(
        config.generator,
        args.gguf,
        args.name,
        system=_text_or_file(args.system),
        template=_text_or_file(args.template),
        parameters=parse_parameters(args.param),
        progress=lambda status: err.print(status, markup=False),
        base_url=args.base_url,
    )
    out.print(f"wrote {file} (for `ollama create {args.name} -f {file}`)", markup=False)
    out.print(
        f"registered {args.name} with Ollama at {base_url}; use it with "
        f"RAG_GENERATOR__BACKEND=ollama RAG_GENERATOR__MODEL={args.name}",
        markup=False,
    )
    return ExitCode.OK


def _check(config: RagConfig, args: argparse.Namespace) -> int:
    from rag.generate.serving import check_model

    config = overrides(config, args)
    check = check_model(config, connect_backend(config)[0])
    out.print(f"{check.backend} server: {check.where}", markup=False)
    for model in check.served:
        mark = "*" if model is check.found else " "
        detail = f"  ({model.detail})" if model.detail else ""
        out.print(f" {mark} {model.name}{detail}", markup=False)
    if check.found is None:
        hint = f"; close: {', '.join(check.close)}" if check.close else ""
        error(
            f"{check.model!r} is not among them{hint}. Fix generator.model (a LoRA adapter is "
            "served under the name given to vLLM's --lora-modules NAME=PATH)",
            label="not served",
        )
        return ExitCode.INPUTS_FAILED
    out.print(f"ok: {check.model} is served as {check.found.name}", markup=False)
    if check.context_length:
        out.print(f"model context: {check.context_length} tokens", markup=False)
    if check.window_warning:
        warn(check.window_warning)
    return ExitCode.OK


def _text_or_file(value: str | None) -> str | None:
    """The text, or the content of the file named after an `@`."""
    if value and value.startswith("@"):
        path = Path(value[1:]).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path} does not exist (named by {value!r})")
        return path.read_text(encoding="utf-8")
    return value
