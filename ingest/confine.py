"""Confinement of a parser process: a memory limit and no network.

A parser process starts here (`python -m ingest.confine TASK_FD RESULT_FD`): the limits
are applied before anything else is imported, since a user namespace can only be entered by
a process with one thread (numpy's BLAS starts more on import); then `ingest.isolation`
serves files.

- `RLIMIT_AS` caps the address space (its children, LibreOffice and tesseract, inherit it):
  an allocation past it fails (Python: `MemoryError`) instead of driving the machine into the
  kernel's out-of-memory killer.
- A network namespace of its own (`unshare(CLONE_NEWUSER | CLONE_NEWNET)`) where the kernel
  allows unprivileged user namespaces: only a loopback interface, down, so no process in it,
  Python or not, reaches any address, the host's loopback included. Containers often forbid
  it (Docker's default seccomp profile does); then only the next guard holds.
- An audit hook refuses every Internet socket connection, datagram and name lookup made
  through Python (`urllib`, `requests`, `http.client`, `socket`), whatever the parser library.

A document that references `http://…` (HTML images, stylesheets, iframes, SVG, Markdown
images, OLE links) thereby never causes a request.
"""

from __future__ import annotations

import ctypes
import os
import resource
import socket
import sys
from typing import Any

__all__ = ["MEMORY_VARIABLE", "NETWORK_REFUSED", "confine"]

MEMORY_VARIABLE = "RAG_PARSER_PROCESS_MAX_MEMORY_MB"

NETWORK_REFUSED = "network access is disabled in parser processes"
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_INET = (socket.AF_INET, socket.AF_INET6)
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"}


def confine(max_memory_mb: int) -> dict[str, str]:
    """Apply the limits to this process (single-threaded still, for the namespace);
    returns what was applied."""
    applied = {"memory": "unlimited", "network": _own_network_namespace()}
    if max_memory_mb > 0:
        limit = max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        applied["memory"] = f"{max_memory_mb} MB"
    sys.addaudithook(_refuse_network)
    return applied


def _own_network_namespace() -> str:
    uid, gid = os.getuid(), os.getgid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            return f"python guard only (unshare: {os.strerror(ctypes.get_errno())})"
    except (OSError, AttributeError) as exc:
        return f"python guard only ({exc})"
    # Map our own ids into the new user namespace, so files keep their owners' names.
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        try:
            with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
                handle.write(text)
        except OSError:
            break
    return "own network namespace"


def _refuse_network(event: str, args: tuple[Any, ...]) -> None:
    if event in _LOOKUPS or event == "urllib.Request":
        raise PermissionError(NETWORK_REFUSED)
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock = args[0]
        if getattr(sock, "family", None) in _INET:
            raise PermissionError(NETWORK_REFUSED)


def without_torch() -> None:
    """Parsers run unstructured's `fast` and `ocr_only` strategies, which need no torch;
    spaCy (through thinc) imports it whenever it is installed: 1.2 s of every parser's
    start. Marking it absent makes those imports fall back at once."""
    sys.modules.setdefault("torch", None)  # type: ignore[arg-type]


if __name__ == "__main__":
    without_torch()
    _applied = confine(int(os.environ.get(MEMORY_VARIABLE, "0")))
    sys.stderr.write(f"parser process {os.getpid()} confined: {_applied}\n")  # the parser log
    from ingest.isolation import main

    main()
