"""BM25 postings and statistics in PostgreSQL: the `LexicalIndex` port beside the catalog.

The same terms (the caller's analyzer) and the same formula as `rag.lexical.bm25` on
SQLite, so scores agree to float rounding; ties go to the chunk indexed first (`num` grows
with each insert, as SQLite's rowid does). Every knowledge base and collection (chunks,
summaries) shares three tables, keyed by `(kb, coll)`:

- `lex_terms`: a term's id and document frequency;
- `lex_docs`: one row per indexed chunk (its length and its term ids, to unindex it);
- `lex_postings`: (term id, chunk number, tf, chunk length), one index scan per query term;
- `lex_stats`: chunk count, total length and a generation counter per index.

Writes run in the caller's transaction (the catalog's, holding the knowledge base's lock),
so the postings change exactly when the documents become visible or hidden. A search reads
one snapshot and scores in the database (`sum(...) GROUP BY num ... LIMIT k`): only the
`k` best rows travel.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import LexicalConfig
from rag.lexical.bm25 import LexicalRow

if TYPE_CHECKING:
    import psycopg

    from rag.postgres import Database

__all__ = ["LEXICAL_DDL", "PgBM25"]

LEXICAL_DDL = """
CREATE SEQUENCE IF NOT EXISTS {s}.lex_num;
CREATE TABLE IF NOT EXISTS {s}.lex_terms (
    kb text NOT NULL, coll smallint NOT NULL, term text NOT NULL,
    tid bigint GENERATED ALWAYS AS IDENTITY UNIQUE, df integer NOT NULL,
    PRIMARY KEY (kb, coll, term));
CREATE TABLE IF NOT EXISTS {s}.lex_docs (
    num bigint PRIMARY KEY, kb text NOT NULL, coll smallint NOT NULL, chunk_id text NOT NULL,
    doc_id text NOT NULL, length integer NOT NULL, tids bigint[] NOT NULL,
    UNIQUE (kb, coll, chunk_id));
CREATE INDEX IF NOT EXISTS lex_docs_doc ON {s}.lex_docs (kb, coll, doc_id);
CREATE TABLE IF NOT EXISTS {s}.lex_postings (
    tid bigint NOT NULL, num bigint NOT NULL, tf integer NOT NULL, dl integer NOT NULL,
    PRIMARY KEY (tid, num) INCLUDE (tf, dl));
CREATE TABLE IF NOT EXISTS {s}.lex_stats (
    kb text NOT NULL, coll smallint NOT NULL, n bigint NOT NULL, total bigint NOT NULL,
    generation bigint NOT NULL, PRIMARY KEY (kb, coll));
"""

_SCORE = """
WITH q(tid, w) AS (SELECT * FROM unnest(%(tids)s::bigint[], %(weights)s::float8[])),
scored AS (
    SELECT p.num, sum(q.w * p.tf * %(k1p1)s / (p.tf + %(k1)s * (%(one_b)s + %(b)s * p.dl
           / %(avgdl)s))) AS score
    FROM q JOIN {s}.lex_postings p ON p.tid = q.tid {only} GROUP BY p.num),
top AS (
    SELECT num, score FROM scored WHERE score > 0 ORDER BY score DESC, num LIMIT %(k)s)
SELECT d.chunk_id, top.score FROM top JOIN {s}.lex_docs d ON d.num = top.num
ORDER BY top.score DESC, top.num
"""
_ONLY = (
    "WHERE p.num IN (SELECT num FROM {s}.lex_docs WHERE kb = %(kb)s AND coll = %(coll)s "
    "AND doc_id = ANY(%(docs)s))"
)


class PgBM25:
    """The postings of one collection (`coll` 0: chunks, 1: summaries) of knowledge base
    `kb`."""

    def __init__(self, db: Database, kb: str, coll: int, config: LexicalConfig) -> None:
        self._db, self._kb, self._coll, self._config = db, kb, coll, config
        self._mean_idf: tuple[int, float] | None = None  # (generation, mean okapi idf)
        self._guard = threading.Lock()
        with db.connection() as conn:
            conn.execute(
                db.sql("INSERT INTO {s}.lex_stats VALUES (%s, %s, 0, 0, 0) ON CONFLICT DO NOTHING"),
                (kb, coll),
            )

    @property
    def key(self) -> tuple[str, int]:
        """(knowledge base, collection): the rows of this index in the shared tables."""
        return self._kb, self._coll

    # -- writes (in the caller's transaction, or one of their own) --------------------------

    def add(self, rows: Sequence[LexicalRow], conn: psycopg.Connection[Any] | None = None) -> None:
        """Index these chunks; a chunk id already present is replaced."""
        if not rows:
            return
        if conn is None:
            with self._db.transaction(self._kb) as own:
                return self.add(rows, own)
        self.remove([r.chunk_id for r in rows], conn)
        sql, kb, coll = self._db.sql, self._kb, self._coll
        counts = [Counter(r.terms) for r in rows]
        vocabulary = sorted(set().union(*counts))
        conn.execute(
            sql(
                "INSERT INTO {s}.lex_terms (kb, coll, term, df) "
                "SELECT %s, %s, t, 0 FROM unnest(%s::text[]) AS t ON CONFLICT DO NOTHING"
            ),
            (kb, coll, vocabulary),
        )
        tids: dict[str, int] = dict(
            conn.execute(
                sql(
                    "SELECT term, tid FROM {s}.lex_terms WHERE kb=%s AND coll=%s AND term = ANY(%s)"
                ),
                (kb, coll, vocabulary),
            ).fetchall()
        )
        nums = [
            r[0]
            for r in conn.execute(
                sql("SELECT nextval('{s}.lex_num') FROM generate_series(1, %s) ORDER BY 1"),
                (len(rows),),
            )
        ]
        df: Counter[int] = Counter()
        with conn.cursor() as cur:
            with cur.copy(
                sql("COPY {s}.lex_docs (num, kb, coll, chunk_id, doc_id, length, tids) FROM STDIN")
            ) as copy:
                for num, row, count in zip(nums, rows, counts, strict=True):
                    copy.write_row(
                        (
                            num,
                            kb,
                            coll,
                            row.chunk_id,
                            row.doc_id,
                            len(row.terms),
                            [tids[t] for t in count],
                        )
                    )
            with cur.copy(sql("COPY {s}.lex_postings (tid, num, tf, dl) FROM STDIN")) as copy:
                for num, row, count in zip(nums, rows, counts, strict=True):
                    length = len(row.terms)
                    for term, tf in count.items():
                        copy.write_row((tids[term], num, tf, length))
                        df[tids[term]] += 1
        conn.execute(
            sql(
                "UPDATE {s}.lex_terms t SET df = t.df + d.n FROM unnest(%s::bigint[], "
                "%s::int[]) AS d(tid, n) WHERE t.tid = d.tid"
            ),
            (list(df), list(df.values())),
        )
        self._bump(conn, len(rows), sum(len(r.terms) for r in rows))

    def remove(
        self, chunk_ids: Collection[str], conn: psycopg.Connection[Any] | None = None
    ) -> None:
        """Drop these chunks from the index; unknown ids are ignored."""
        if not chunk_ids:
            return
        if conn is None:
            with self._db.transaction(self._kb) as own:
                return self.remove(chunk_ids, own)
        sql = self._db.sql
        gone = conn.execute(
            sql(
                "DELETE FROM {s}.lex_docs WHERE kb=%s AND coll=%s AND chunk_id = ANY(%s) "
                "RETURNING num, length, tids"
            ),
            (self._kb, self._coll, list(chunk_ids)),
        ).fetchall()
        if not gone:
            return
        df: Counter[int] = Counter()
        pair_tids: list[int] = []
        pair_nums: list[int] = []
        for num, _, tids in gone:
            for tid in tids:
                pair_tids.append(tid)
                pair_nums.append(num)
                df[tid] += 1
        conn.execute(
            sql(
                "DELETE FROM {s}.lex_postings p USING unnest(%s::bigint[], %s::bigint[]) "
                "AS g(tid, num) WHERE p.tid = g.tid AND p.num = g.num"
            ),
            (pair_tids, pair_nums),
        )
        conn.execute(
            sql(
                "UPDATE {s}.lex_terms t SET df = t.df - d.n FROM unnest(%s::bigint[], "
                "%s::int[]) AS d(tid, n) WHERE t.tid = d.tid"
            ),
            (list(df), list(df.values())),
        )
        conn.execute(sql("DELETE FROM {s}.lex_terms WHERE tid = ANY(%s) AND df <= 0"), (list(df),))
        self._bump(conn, -len(gone), -sum(int(g[1]) for g in gone))

    def clear(self, conn: psycopg.Connection[Any]) -> None:
        """Remove every row of this index (a knowledge base dropped)."""
        sql, key = self._db.sql, (self._kb, self._coll)
        conn.execute(
            sql(
                "DELETE FROM {s}.lex_postings p USING {s}.lex_docs d "
                "WHERE d.kb=%s AND d.coll=%s AND p.num = d.num"
            ),
            key,
        )
        for table in ("lex_docs", "lex_terms", "lex_stats"):
            conn.execute(sql(f"DELETE FROM {{s}}.{table} WHERE kb=%s AND coll=%s"), key)

    def _bump(self, conn: psycopg.Connection[Any], n: int, total: int) -> None:
        conn.execute(
            self._db.sql(
                "UPDATE {s}.lex_stats SET n = n + %s, total = total + %s, "
                "generation = generation + 1 WHERE kb=%s AND coll=%s"
            ),
            (n, total, self._kb, self._coll),
        )

    # -- reads -------------------------------------------------------------------------------

    def count(self) -> int:
        """Number of indexed chunks."""
        with self._db.connection() as conn:
            row = conn.execute(
                self._db.sql("SELECT n FROM {s}.lex_stats WHERE kb=%s AND coll=%s"),
                (self._kb, self._coll),
            ).fetchone()
        return int(row[0]) if row else 0

    def ids(self, conn: psycopg.Connection[Any]) -> frozenset[str]:
        """Every indexed chunk id (for the catalog's snapshot)."""
        rows = conn.execute(
            self._db.sql("SELECT chunk_id FROM {s}.lex_docs WHERE kb=%s AND coll=%s"),
            (self._kb, self._coll),
        )
        return frozenset(r[0] for r in rows)

    def rows(self, chunk_ids: Collection[str]) -> list[LexicalRow]:
        """The indexed terms of these chunks, each as often as it occurs (order lost)."""
        with self._db.snapshot() as conn:
            found = conn.execute(
                self._db.sql(
                    "SELECT d.chunk_id, d.doc_id, t.term, p.tf FROM {s}.lex_docs d "
                    "JOIN {s}.lex_postings p ON p.num = d.num JOIN {s}.lex_terms t "
                    "ON t.tid = p.tid WHERE d.kb=%s AND d.coll=%s AND d.chunk_id = ANY(%s) "
                    "ORDER BY d.num, t.term"
                ),
                (self._kb, self._coll, list(chunk_ids)),
            ).fetchall()
        terms: dict[tuple[str, str], list[str]] = {}
        for chunk_id, doc_id, term, tf in found:
            terms.setdefault((chunk_id, doc_id), []).extend([term] * tf)
        return [LexicalRow(c, d, t) for (c, d), t in terms.items()]

    def search(
        self, terms: Sequence[str], k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` best (chunk id, BM25 score) pairs for the query terms, best first; only
        chunks with a positive score. With `doc_ids`, only chunks of those documents."""
        if k <= 0 or not terms or (doc_ids is not None and not doc_ids):
            return []
        query = Counter(terms)
        sql, cfg = self._db.sql, self._config
        with self._db.snapshot() as conn:
            stats = conn.execute(
                sql("SELECT n, total, generation FROM {s}.lex_stats WHERE kb=%s AND coll=%s"),
                (self._kb, self._coll),
            ).fetchone()
            if stats is None or stats[0] == 0:
                return []
            n, total, generation = (int(v) for v in stats)
            found = conn.execute(
                sql(
                    "SELECT term, tid, df FROM {s}.lex_terms WHERE kb=%s AND coll=%s "
                    "AND term = ANY(%s)"
                ),
                (self._kb, self._coll, list(query)),
            ).fetchall()
            tids, weights = [], []
            for term, tid, df in found:
                if df <= 0:
                    continue
                tids.append(tid)
                # rank-bm25 counts a repeated query term again
                weights.append(self._idf(conn, n, df, generation) * query[term])
            if not tids:
                return []
            only = _ONLY if doc_ids is not None else ""
            params = {
                "kb": self._kb,
                "coll": self._coll,
                "tids": tids,
                "weights": weights,
                "k1p1": cfg.k1 + 1,
                "k1": cfg.k1,
                "one_b": 1 - cfg.b,
                "b": cfg.b,
                "avgdl": total / n,
                "k": k,
                "docs": list(doc_ids or ()),
            }
            rows = conn.execute(sql(_SCORE.replace("{only}", only)), params).fetchall()
        return [(str(chunk_id), float(score)) for chunk_id, score in rows]

    def _idf(self, conn: psycopg.Connection[Any], n: int, df: int, generation: int) -> float:
        if self._config.idf == "lucene":
            return math.log(1 + (n - df + 0.5) / (df + 0.5))
        idf = math.log((n - df + 0.5) / (df + 0.5))
        if idf >= 0:
            return idf
        return self._config.epsilon * self._okapi_mean_idf(conn, n, generation)

    def _okapi_mean_idf(self, conn: psycopg.Connection[Any], n: int, generation: int) -> float:
        """rank-bm25's floor for negative idf: the mean idf over the whole vocabulary."""
        with self._guard:
            cached = self._mean_idf
        if cached is not None and cached[0] == generation:
            return cached[1]
        df = np.asarray(
            [
                r[0]
                for r in conn.execute(
                    self._db.sql("SELECT df FROM {s}.lex_terms WHERE kb=%s AND coll=%s"),
                    (self._kb, self._coll),
                )
            ],
            dtype=np.float64,
        )
        mean = float(np.mean(np.log((n - df + 0.5) / (df + 0.5)))) if len(df) else 0.0
        with self._guard:
            self._mean_idf = (generation, mean)
        return mean
