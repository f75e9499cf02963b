"""pgvector: the chunks and their vectors in the PostgreSQL of the state (`store.backend =
"pgvector"`), one table per collection with an HNSW index on cosine distance.

With the catalog and postings in the same database (`rag.state.postgres`), one PostgreSQL
holds a whole knowledge base; every process that reaches it serves it. Visibility stays the
catalog's (a version's rows are written, then made visible in one catalog transaction), as
for every store. Filters are SQL on the chunk's columns; filtered searches use pgvector's
iterative index scan so a selective filter still returns `k` rows, and `hnsw.ef_search`
grows with `k` so deep searches (fusion's candidates) stay close to exact.

Example:
    >>> store = PgVectorStore(state.database, "chunks", 384)  # doctest: +SKIP
    >>> store.search_dense(vector, k=5)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import StoreError
from rag.stores.base import And, FilterExpr
from rag.types import Chunk, Hit

if TYPE_CHECKING:
    from rag.postgres import Database

__all__ = ["PgVectorStore"]

# Filter fields -> columns (the chunk's metadata as every store names it).
_COLUMNS = {
    "doc_id": "doc_id",
    "version": "version",
    "source": "source",
    "section": "section",
    "page": "page",
    "index": "idx",
    "n_tokens": "n_tokens",
}
_OPS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_SELECT = "id, doc_id, version, text, idx, source, page, section, n_tokens"
_COPY_BATCH = 5000


def _where(expr: FilterExpr, params: list[Any]) -> str:
    """`expr` as SQL on the table's columns (the one place that translates it)."""
    if isinstance(expr, And):
        return " AND ".join(f"({_where(f, params)})" for f in expr.filters) or "TRUE"
    column = _COLUMNS.get(expr.field)
    if column is None:
        raise StoreError(f"cannot filter on {expr.field!r}; the fields are {sorted(_COLUMNS)}")
    if expr.op == "in":
        values = list(expr.value) if isinstance(expr.value, tuple) else [expr.value]
        params.append(values)
        return f"{column} = ANY(%s)"
    params.append(expr.value)
    # `ne` keeps rows where the column is NULL (a chunk without a page is not on page 2)
    if expr.op == "ne":
        return f"{column} IS DISTINCT FROM %s"
    return f"{column} {_OPS[expr.op]} %s"


def _chunk(row: tuple[Any, ...]) -> Chunk:
    return Chunk(
        chunk_id=row[0],
        doc_id=row[1],
        version=row[2],
        text=row[3],
        index=int(row[4]),
        source=row[5],
        page=int(row[6]) if row[6] is not None else None,
        section=row[7],
        n_tokens=int(row[8]),
    )


def _literal(vector: np.ndarray) -> str:
    """pgvector's text form, `[0.1,0.2,...]` (float32 precision kept)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


class PgVectorStore:
    """Table `vec_<collection>` in the database's schema."""

    def __init__(self, db: Database, collection: str, dimension: int) -> None:
        if not collection.replace("_", "").isalnum() or len(collection) > 59:
            raise StoreError(
                f"collection name {collection!r} must be letters, digits and _ (59 at most)"
            )
        self._db, self._collection, self._dimension = db, collection, dimension
        self.database = db  # `rag.postgres.InDatabase`: writes join the catalog's transaction
        self._table = db.sql(f'{{s}}."vec_{collection}"')
        self._create()

    def _create(self) -> None:
        import psycopg

        with self._db.connection() as conn:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.errors.InsufficientPrivilege:
                enabled = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
                if not enabled.fetchone():
                    raise StoreError(
                        f"pgvector is not enabled in {self._db.url} and this user may not "
                        "enable it: run CREATE EXTENSION vector; as a superuser in that database"
                    ) from None
            except psycopg.errors.FeatureNotSupported as exc:
                raise StoreError(
                    f"pgvector is not installed on the server at {self._db.url} ({exc}); "
                    "install it (https://github.com/pgvector/pgvector) or use another store"
                ) from None
        table, name = self._table, self._collection
        self._db.ensure(
            f"vec_{name}",
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                id text PRIMARY KEY, doc_id text NOT NULL, version text NOT NULL,
                text text NOT NULL, idx integer NOT NULL, source text NOT NULL, page integer,
                section text NOT NULL, n_tokens integer NOT NULL,
                embedding vector({self._dimension}) NOT NULL);
            CREATE INDEX IF NOT EXISTS "vec_{name}_doc" ON {table} (doc_id);
            CREATE INDEX IF NOT EXISTS "vec_{name}_hnsw" ON {table}
                USING hnsw (embedding vector_cosine_ops);
            """,
        )
        with self._db.connection() as conn:
            found = conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                "%s::regclass AND attname = 'embedding'",
                (self._table,),
            ).fetchone()
        if found and found[0] != f"vector({self._dimension})":
            raise StoreError(
                f"collection {name!r} in {self._db.url} holds {found[0]} vectors, not "
                f"vector({self._dimension}); use another collection (store.collection)"
            )

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if len(chunks) != len(vectors):
            raise StoreError(f"{len(chunks)} chunks but {len(vectors)} vectors; nothing written")
        if not chunks:
            return
        staged = f'"upsert_{self._collection}"'  # this collection's rows of this upsert
        with self._db.transaction() as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staged} (LIKE {self._table}) "
                "ON COMMIT DELETE ROWS"
            )
            cur.execute(f"DELETE FROM {staged}")  # an earlier upsert of this transaction's
            for start in range(0, len(chunks), _COPY_BATCH):
                part = chunks[start : start + _COPY_BATCH]
                with cur.copy(f"COPY {staged} ({_SELECT}, embedding) FROM STDIN") as copy:
                    for chunk, vector in zip(part, vectors[start : start + len(part)], strict=True):
                        copy.write_row(
                            (
                                chunk.chunk_id,
                                chunk.doc_id,
                                chunk.version,
                                chunk.text,
                                chunk.index,
                                chunk.source,
                                chunk.page,
                                chunk.section,
                                chunk.n_tokens,
                                _literal(vector),
                            )
                        )
            columns = [c.strip() for c in _SELECT.split(",")] + ["embedding"]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
            cur.execute(
                f"INSERT INTO {self._table} SELECT DISTINCT ON (id) * FROM {staged} "
                f"ON CONFLICT (id) DO UPDATE SET {updates}"
            )

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._db.connection() as conn:
            conn.execute(f"DELETE FROM {self._table} WHERE id = ANY(%s)", (list(ids),))

    def delete_where(self, where: FilterExpr) -> None:
        params: list[Any] = []
        clause = _where(where, params)
        with self._db.connection() as conn:
            conn.execute(f"DELETE FROM {self._table} WHERE {clause}", params)

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_SELECT} FROM {self._table} WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return [_chunk(r) for r in rows]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT id, embedding::real[] FROM {self._table} WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {r[0]: np.asarray(r[1], dtype=np.float32) for r in rows}

    def count(self) -> int:
        with self._db.connection() as conn:
            row = conn.execute(f"SELECT count(*) FROM {self._table}").fetchone()
        return int(row[0]) if row else 0

    def scan(self, batch: int = 1000) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        after = ""
        while True:
            with self._db.connection() as conn:
                rows = conn.execute(
                    f"SELECT {_SELECT}, embedding::real[] FROM {self._table} WHERE id > %s "
                    "ORDER BY id LIMIT %s",
                    (after, batch),
                ).fetchall()
            if not rows:
                return
            yield [_chunk(r) for r in rows], np.asarray([r[9] for r in rows], dtype=np.float32)
            after = rows[-1][0]

    def search_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[Hit]:
        if k <= 0:
            return []
        rows = self._nearest(vector, k, where, f"{_SELECT}, ")
        return [Hit(_chunk(r), float(r[9]), "dense") for r in rows]

    def rank_dense(
        self, vector: np.ndarray, k: int, where: FilterExpr | None = None
    ) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        return [(r[0], float(r[1])) for r in self._nearest(vector, k, where, "id, ")]

    def _nearest(
        self, vector: np.ndarray, k: int, where: FilterExpr | None, columns: str
    ) -> list[Any]:
        """Rows of `columns` and the cosine, nearest first."""
        params: list[Any] = [_literal(vector)]
        clause = f"WHERE {_where(where, params)}" if where is not None else ""
        params += [_literal(vector), k]
        with self._db.transaction() as conn:
            # ef_search bounds what HNSW finds: at least 2k candidates for a deep search
            conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, max(64, 2 * k))}")
            # The planner can price HNSW above reading every vector: at 10k chunks it chose
            # the scan, 38 ms a query against 2.7 with the index. An index, always (with a
            # filter, the doc_id index when it selects few rows).
            conn.execute("SET LOCAL enable_seqscan = off")
            if where is not None:
                conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            return conn.execute(
                f"SELECT {columns}1 - (embedding <=> %s::vector) FROM {self._table} "
                f"{clause} ORDER BY embedding <=> %s::vector LIMIT %s",
                params,
            ).fetchall()

    def sibling(self, collection: str) -> PgVectorStore:
        return PgVectorStore(self._db, collection, self._dimension)

    def drop(self) -> None:
        with self._db.connection() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {self._table}")
        self._db.forget(f"vec_{self._collection}")

    def close(self) -> None:
        """Nothing to release: the connections are the state's pool."""
