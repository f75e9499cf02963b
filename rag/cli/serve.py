"""`rag serve`: the REST question-answering service (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse
import copy
import ipaddress
import os
from typing import Any

from rag.cli.exit_codes import ExitCode
from rag.cli.output import err, error
from rag.config import RagConfig, derive

__all__ = ["embedded_store", "log_config", "register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `rag serve` to the `rag` parser."""
    serve = sub.add_parser(
        "serve", help="run the REST service (query, OpenAI-compatible, documents)", parents=[common]
    )
    serve.add_argument("--host", help="address to bind (default: api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: api.port, 8100)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes (default 1; more need a Chroma or Milvus server store)",
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="allow a non-loopback address without API keys (anyone who reaches it may write)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=_serve)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def embedded_store(config: RagConfig) -> bool:
    """Whether the store lives in this machine's files (one process may write it); pgvector
    is the database's."""
    if config.store.backend == "pgvector":
        return False
    uri = config.store.uri
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _serve(config: RagConfig, args: argparse.Namespace) -> int:
    import uvicorn

    from api.protocol import guarded_protocol

    api = config.api
    host = args.host or api.host
    port = api.port if args.port is None else args.port
    workers = args.workers or api.workers
    if not _loopback(host) and not api.keys and not args.no_auth:
        error(
            f"refusing to serve on {host} without API keys: anyone who reaches it could read "
            "and change the index. Set [api] keys (or RAG_API__KEYS='[\"...\"]'), or pass "
            "--no-auth to do it anyway"
        )
        return ExitCode.USAGE
    if workers > 1 and embedded_store(config):
        error(
            f"--workers {workers} needs a store server: the embedded {config.store.backend} "
            "store allows one writing process. Use one worker (requests still run "
            "concurrently), or set store.uri to a Chroma or Milvus server"
        )
        return ExitCode.USAGE
    url = f"http://{host}:{port}"
    level = args.log_level
    if workers > 1:
        os.environ["RAG_API__WORKERS"] = str(workers)
        if getattr(args, "config", None):
            os.environ["RAG_CONFIG"] = str(args.config)
        err.print(f"serving {url} with {workers} workers (data dir {config.data_dir})")
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            log_config=log_config(level),
            access_log=False,
            http=guarded_protocol(config.api.header_timeout_s),
        )
        return ExitCode.OK
    from api.app import create_app
    from api.service import build_services

    services = build_services(derive(config, api={"host": host, "port": port}))
    auth = "API keys required" if services.config.api.keys else "no authentication (loopback)"
    err.print(f"serving {url} ({auth}; data dir {config.data_dir}); Ctrl-C stops", markup=False)
    app = create_app(services=services, url=url)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=level,
        log_config=log_config(level),
        access_log=False,
        timeout_graceful_shutdown=10,
        http=guarded_protocol(config.api.header_timeout_s),
    )
    return ExitCode.OK


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with our `api` loggers at `level` in place of uvicorn's access
    log: every access line is ours (`api.access`: method, path, status, time, request id),
    and so is every refusal's code and message (`api.app`), in each worker process too."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["api"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
    }
    config["handlers"]["api"] = {
        "formatter": "api",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    for name in ("api", "rag"):
        config["loggers"][name] = {"handlers": ["api"], "level": level.upper(), "propagate": False}
    return config
