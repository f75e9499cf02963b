"""BM25 postings and statistics in PostgreSQL: the `LexicalIndex` port beside the catalog.

The same terms (the caller's analyzer) and the same formula as `rag.lexical.bm25` on
SQLite, so scores agree to float rounding; ties go to the chunk indexed first (`num` grows
with each insert, as SQLite's rowid does). Every knowledge base and collection (chunks,
summaries) shares these tables, keyed by `(kb, coll)` or by term id:

- `lex_terms`: a term's id and document frequency;
- `lex_docs`: one row per indexed chunk (its length, its term ids and their tf);
- `lex_postings`: the postings written since the last packing, one row each
  (term id, chunk number, tf, chunk length): what one document's write adds cheaply;
- `lex_packed`: the older postings, one array of bytes per term (`rag.state.postgres.packed`),
  read whole and scored in this process: at 500k chunks a query's terms hold ~400k
  postings, and PostgreSQL's per-row work on them, not the arithmetic, set the time;
- `lex_dead`: packed chunks removed since (skipped by searches until a purge rewrites the
  arrays without them);
- `lex_stats`: chunk count, total length, a generation counter, the first chunk number not
  packed, and the postings waiting in rows and dead in arrays, per index.

Once `pack_at` postings wait in rows (and at least an eighth of what is packed, so each
posting is rewritten a bounded number of times), the write that crossed the line moves
them all into the arrays in its transaction; a chunk's postings are therefore all in
rows or all in arrays, and a search scores both parts and merges their best `k`.

Writes run in the caller's transaction (the catalog's, holding the knowledge base's lock),
so the postings change exactly when the documents become visible or hidden, and a search
reads one snapshot.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import LexicalConfig
from rag.faults import crash_point
from rag.lexical.bm25 import LexicalRow
from rag.state.postgres.packed import Formula, top_k, without

if TYPE_CHECKING:
    import psycopg

    from rag.postgres import Database

__all__ = ["LEXICAL_DDL", "PACK_AT", "PgBM25"]

PACK_AT = 200_000  # postings waiting in rows before they are packed

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
CREATE TABLE IF NOT EXISTS {s}.lex_packed (
    tid bigint PRIMARY KEY, postings bytea NOT NULL, n integer NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.lex_dead (
    kb text NOT NULL, coll smallint NOT NULL, num bigint NOT NULL, tids bigint[] NOT NULL,
    PRIMARY KEY (kb, coll, num));
DO $$ BEGIN  -- new tables, and those from before packing: its columns, once
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = '{s}'
                   AND table_name = 'lex_docs' AND column_name = 'tfs') THEN
        ALTER TABLE {s}.lex_packed ALTER COLUMN postings SET STORAGE EXTERNAL;  -- no pglz
        ALTER TABLE {s}.lex_docs ADD COLUMN tfs integer[];
        UPDATE {s}.lex_docs d SET tfs = (SELECT array_agg(p.tf ORDER BY x.i)
            FROM unnest(d.tids) WITH ORDINALITY AS x(tid, i)
            JOIN {s}.lex_postings p ON p.tid = x.tid AND p.num = d.num);
        ALTER TABLE {s}.lex_stats ADD COLUMN packed_below bigint NOT NULL DEFAULT 0,
            ADD COLUMN loose bigint NOT NULL DEFAULT 0,
            ADD COLUMN dead bigint NOT NULL DEFAULT 0,
            ADD COLUMN packed bigint NOT NULL DEFAULT 0;
        UPDATE {s}.lex_stats s SET loose = (SELECT COALESCE(sum(cardinality(d.tids)), 0)
            FROM {s}.lex_docs d WHERE d.kb = s.kb AND d.coll = s.coll);
    END IF;
END $$;
"""

_SCORE = """
WITH q(tid, w) AS (SELECT * FROM unnest(%(tids)s::bigint[], %(weights)s::float8[])),
scored AS (
    SELECT p.num, sum(q.w * p.tf * %(k1p1)s / (p.tf + %(k1)s * (%(one_b)s + %(b)s * p.dl
           / %(avgdl)s))) AS score
    FROM q JOIN {s}.lex_postings p ON p.tid = q.tid {only} GROUP BY p.num)
SELECT num, score FROM scored WHERE score > 0 ORDER BY score DESC, num LIMIT %(k)s
"""
_ONLY = (
    "WHERE p.num IN (SELECT num FROM {s}.lex_docs WHERE kb = %(kb)s AND coll = %(coll)s "
    "AND doc_id = ANY(%(docs)s))"
)
# Every posting in rows moves into its term's array (appended: chunk numbers only grow).
_PACK = """
WITH moved AS (
    DELETE FROM {s}.lex_postings p USING {s}.lex_terms t
    WHERE t.kb = %(kb)s AND t.coll = %(coll)s AND p.tid = t.tid
    RETURNING p.tid, p.num, p.tf, p.dl)
INSERT INTO {s}.lex_packed AS a (tid, postings, n)
SELECT tid, string_agg(int8send(num) || int4send(tf) || int4send(dl), ''::bytea ORDER BY num),
       count(*) FROM moved GROUP BY tid
ON CONFLICT (tid) DO UPDATE SET postings = a.postings || EXCLUDED.postings,
                                n = a.n + EXCLUDED.n
"""
_PURGE_AT = 2_000  # removed packed chunks kept as exclusions before the arrays are rewritten


class PgBM25:
    """The postings of one collection (`coll` 0: chunks, 1: summaries) of knowledge base
    `kb`; `pack_at`: postings waiting in rows before they are packed."""

    def __init__(
        self, db: Database, kb: str, coll: int, config: LexicalConfig, pack_at: int = PACK_AT
    ) -> None:
        self._db, self._kb, self._coll, self._config = db, kb, coll, config
        self._pack_at = pack_at
        self._mean_idf: tuple[int, float] | None = None  # (generation, mean okapi idf)
        self._guard = threading.Lock()
        with db.connection() as conn:
            conn.execute(
                db.sql(
                    "INSERT INTO {s}.lex_stats (kb, coll, n, total, generation) "
                    "VALUES (%s, %s, 0, 0, 0) ON CONFLICT DO NOTHING"
                ),
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
                sql(
                    "COPY {s}.lex_docs (num, kb, coll, chunk_id, doc_id, length, tids, tfs) "
                    "FROM STDIN"
                )
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
                            list(count.values()),
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
        stats = self._bump(conn, len(rows), sum(len(r.terms) for r in rows), loose=sum(df.values()))
        if stats["loose"] >= self._pack_at and 8 * stats["loose"] >= stats["packed"]:
            self._pack(conn)

    def remove(
        self, chunk_ids: Collection[str], conn: psycopg.Connection[Any] | None = None
    ) -> None:
        """Drop these chunks from the index; unknown ids are ignored."""
        if not chunk_ids:
            return
        if conn is None:
            with self._db.transaction(self._kb) as own:
                return self.remove(chunk_ids, own)
        sql, kb, coll = self._db.sql, self._kb, self._coll
        gone = conn.execute(
            sql(
                "DELETE FROM {s}.lex_docs WHERE kb=%s AND coll=%s AND chunk_id = ANY(%s) "
                "RETURNING num, length, tids"
            ),
            (kb, coll, list(chunk_ids)),
        ).fetchall()
        if not gone:
            return
        row = conn.execute(
            sql("SELECT packed_below FROM {s}.lex_stats WHERE kb=%s AND coll=%s"), (kb, coll)
        ).fetchone()
        packed_below = int(row[0]) if row else 0
        df: Counter[int] = Counter()
        pair_tids: list[int] = []
        pair_nums: list[int] = []
        dead = [(num, tids) for num, _, tids in gone if num < packed_below]
        for num, _, tids in gone:
            for tid in tids:
                df[tid] += 1
                if num >= packed_below:
                    pair_tids.append(tid)
                    pair_nums.append(num)
        conn.execute(
            sql(
                "DELETE FROM {s}.lex_postings p USING unnest(%s::bigint[], %s::bigint[]) "
                "AS g(tid, num) WHERE p.tid = g.tid AND p.num = g.num"
            ),
            (pair_tids, pair_nums),
        )
        if dead:
            with conn.cursor() as cur:
                cur.executemany(
                    sql("INSERT INTO {s}.lex_dead VALUES (%s, %s, %s, %s)"),
                    [(kb, coll, num, tids) for num, tids in dead],
                )
        conn.execute(
            sql(
                "UPDATE {s}.lex_terms t SET df = t.df - d.n FROM unnest(%s::bigint[], "
                "%s::int[]) AS d(tid, n) WHERE t.tid = d.tid"
            ),
            (list(df), list(df.values())),
        )
        unused = [
            r[0]
            for r in conn.execute(
                sql("DELETE FROM {s}.lex_terms WHERE tid = ANY(%s) AND df <= 0 RETURNING tid"),
                (list(df),),
            )
        ]
        unpacked = 0  # postings of unused terms' arrays: every one a removed chunk's
        if unused:
            unpacked = sum(
                r[0]
                for r in conn.execute(
                    sql("DELETE FROM {s}.lex_packed WHERE tid = ANY(%s) RETURNING n"), (unused,)
                )
            )
        stats = self._bump(
            conn,
            -len(gone),
            -sum(int(g[1]) for g in gone),
            loose=-len(pair_nums),
            dead=len(dead),
            packed=-unpacked,
        )
        if stats["dead"] >= max(_PURGE_AT, stats["n"] // 20):
            self._purge(conn)

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
        conn.execute(
            sql(
                "DELETE FROM {s}.lex_packed a USING {s}.lex_terms t "
                "WHERE t.kb=%s AND t.coll=%s AND a.tid = t.tid"
            ),
            key,
        )
        for table in ("lex_dead", "lex_docs", "lex_terms", "lex_stats"):
            conn.execute(sql(f"DELETE FROM {{s}}.{table} WHERE kb=%s AND coll=%s"), key)

    def _bump(
        self,
        conn: psycopg.Connection[Any],
        n: int,
        total: int,
        *,
        loose: int = 0,
        dead: int = 0,
        packed: int = 0,
    ) -> dict[str, int]:
        """Change the index's counters (and its generation); their new values."""
        row = conn.execute(
            self._db.sql(
                "UPDATE {s}.lex_stats SET n = n + %s, total = total + %s, "
                "generation = generation + 1, loose = loose + %s, dead = dead + %s, "
                "packed = packed + %s WHERE kb=%s AND coll=%s RETURNING n, loose, dead, packed"
            ),
            (n, total, loose, dead, packed, self._kb, self._coll),
        ).fetchone()
        assert row is not None  # made in __init__
        return {"n": int(row[0]), "loose": int(row[1]), "dead": int(row[2]), "packed": int(row[3])}

    def _pack(self, conn: psycopg.Connection[Any]) -> None:
        """Move every posting in rows into the arrays (and drop removed chunks from them)."""
        sql, key = self._db.sql, {"kb": self._kb, "coll": self._coll}
        self._purge(conn)
        conn.execute(sql(_PACK), key)
        crash_point("mid_pack")
        conn.execute(
            sql(
                "UPDATE {s}.lex_stats SET packed = packed + loose, loose = 0, "
                "packed_below = nextval('{s}.lex_num') WHERE kb=%(kb)s AND coll=%(coll)s"
            ),
            key,
        )

    def _purge(self, conn: psycopg.Connection[Any]) -> None:
        """Rewrite the arrays holding removed chunks without them."""
        sql, key = self._db.sql, (self._kb, self._coll)
        dead = conn.execute(
            sql("DELETE FROM {s}.lex_dead WHERE kb=%s AND coll=%s RETURNING num, tids"), key
        ).fetchall()
        if not dead:
            return
        gone = {int(num) for num, _ in dead}
        touched = sorted({int(tid) for _, tids in dead for tid in tids})
        dropped = 0  # postings taken out of the arrays
        for start in range(0, len(touched), 500):
            rows = conn.execute(
                sql("SELECT tid, postings FROM {s}.lex_packed WHERE tid = ANY(%s)"),
                (touched[start : start + 500],),
                binary=True,
            ).fetchall()
            for tid, blob in rows:
                kept = without(bytes(blob), gone)
                dropped += (len(blob) - len(kept)) // 16
                if not kept:
                    conn.execute(sql("DELETE FROM {s}.lex_packed WHERE tid = %s"), (tid,))
                    continue
                conn.execute(
                    sql("UPDATE {s}.lex_packed SET postings = %s, n = %s WHERE tid = %s"),
                    (kept, len(kept) // 16, tid),
                )
        conn.execute(
            sql("UPDATE {s}.lex_stats SET dead = 0, packed = packed - %s WHERE kb=%s AND coll=%s"),
            (dropped, *key),
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
                    "SELECT d.chunk_id, d.doc_id, t.term, x.tf FROM {s}.lex_docs d "
                    "CROSS JOIN LATERAL unnest(d.tids, d.tfs) AS x(tid, tf) "
                    "JOIN {s}.lex_terms t ON t.tid = x.tid "
                    "WHERE d.kb=%s AND d.coll=%s AND d.chunk_id = ANY(%s) ORDER BY d.num, t.term"
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
                sql(
                    "SELECT n, total, generation, packed_below, loose, dead FROM {s}.lex_stats "
                    "WHERE kb=%s AND coll=%s"
                ),
                (self._kb, self._coll),
            ).fetchone()
            if stats is None or stats[0] == 0:
                return []
            n, total, generation, packed_below, loose, dead = (int(v) for v in stats)
            found = conn.execute(
                sql(
                    "SELECT term, tid, df FROM {s}.lex_terms WHERE kb=%s AND coll=%s "
                    "AND term = ANY(%s)"
                ),
                (self._kb, self._coll, list(query)),
            ).fetchall()
            weight: dict[int, float] = {}
            for term, tid, df in found:
                if df > 0:  # rank-bm25 counts a repeated query term again
                    weight[tid] = self._idf(conn, n, df, generation) * query[term]
            if not weight:
                return []
            params = {
                "kb": self._kb,
                "coll": self._coll,
                "tids": list(weight),
                "weights": list(weight.values()),
                "k1p1": cfg.k1 + 1,
                "k1": cfg.k1,
                "one_b": 1 - cfg.b,
                "b": cfg.b,
                "avgdl": total / n,
                "k": k,
                "docs": list(doc_ids or ()),
            }
            best: list[tuple[int, float]] = []
            if loose:
                only = _ONLY if doc_ids is not None else ""
                best += conn.execute(sql(_SCORE.replace("{only}", only)), params).fetchall()
            if packed_below:
                best += self._packed(conn, weight, total / n, k, dead, doc_ids)
            best = sorted(best, key=lambda hit: (-hit[1], hit[0]))[:k]
            ids = dict(
                conn.execute(
                    sql("SELECT num, chunk_id FROM {s}.lex_docs WHERE num = ANY(%s)"),
                    ([num for num, _ in best],),
                ).fetchall()
            )
        return [(str(ids[num]), float(score)) for num, score in best]

    def _packed(
        self,
        conn: psycopg.Connection[Any],
        weight: dict[int, float],
        avgdl: float,
        k: int,
        dead: int,
        doc_ids: Collection[str] | None,
    ) -> list[tuple[int, float]]:
        """The `k` best (chunk number, score) among the packed chunks."""
        sql = self._db.sql
        lists = conn.execute(
            sql("SELECT tid, postings FROM {s}.lex_packed WHERE tid = ANY(%s)"),
            (list(weight),),
            binary=True,
        ).fetchall()
        if not lists:
            return []
        excluded: list[int] = []
        if dead:
            excluded = [
                r[0]
                for r in conn.execute(
                    sql("SELECT num FROM {s}.lex_dead WHERE kb=%s AND coll=%s"),
                    (self._kb, self._coll),
                )
            ]
        allowed = None
        if doc_ids is not None:
            allowed = [
                r[0]
                for r in conn.execute(
                    sql(
                        "SELECT num FROM {s}.lex_docs WHERE kb=%s AND coll=%s AND doc_id = ANY(%s)"
                    ),
                    (self._kb, self._coll, list(doc_ids)),
                )
            ]
        formula = Formula(self._config.k1, self._config.b, avgdl)
        return top_k(
            [(bytes(blob), weight[tid]) for tid, blob in lists], formula, k, excluded, allowed
        )

    def ceiling(self, terms: Sequence[str]) -> float:
        """The score no chunk reaches for these terms (`LexicalIndex.ceiling`)."""
        if not terms:
            return 0.0
        query = Counter(terms)
        sql = self._db.sql
        with self._db.snapshot() as conn:
            stats = conn.execute(
                sql("SELECT n, generation FROM {s}.lex_stats WHERE kb=%s AND coll=%s"),
                (self._kb, self._coll),
            ).fetchone()
            if stats is None or stats[0] == 0:
                return 0.0
            n, generation = int(stats[0]), int(stats[1])
            found = dict(
                conn.execute(
                    sql(
                        "SELECT term, df FROM {s}.lex_terms "
                        "WHERE kb=%s AND coll=%s AND term = ANY(%s)"
                    ),
                    (self._kb, self._coll, list(query)),
                ).fetchall()
            )
            return sum(
                self._idf(conn, n, int(found.get(term, 0)), generation)
                * (self._config.k1 + 1)
                * repeats
                for term, repeats in query.items()
            )

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
