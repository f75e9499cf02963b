"""A BM25 index kept in SQLite tables, updated in the caller's transaction.

The tables live in the catalog database, and the catalog adds and removes a document's rows
in the same transaction that makes the document visible or hides it, so the lexical index
holds exactly the visible chunks: no ghost hits after delete or prune, no half-written
document, nothing to rebuild at query time.

Scores match `rank_bm25.BM25Okapi` on the same terms (`idf="okapi"`):

    score(q, d) = sum over query terms t of idf(t) * tf * (k1 + 1) / (tf + k1 * norm(d))
    norm(d) = 1 - b + b * |d| / avgdl
    idf(t) = log((N - df + 0.5) / (df + 0.5)); a negative idf becomes epsilon * mean idf

`idf="lucene"` uses log(1 + (N - df + 0.5) / (df + 0.5)) instead, which is never negative.

Example:
    >>> bm25 = BM25Tables(db, "lex_chunks", LexicalConfig())  # doctest: +SKIP
    >>> bm25.search(["vitamin", "d"], k=10)  # doctest: +SKIP
    [('3f2a...', 7.1), ...]
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import LexicalConfig

__all__ = ["BM25Tables", "LexicalRow"]

_BATCH = 500  # SQLite host parameters per IN (...) list


@dataclass(frozen=True, slots=True)
class LexicalRow:
    """One chunk (or summary) to index: its id, its document and its terms."""

    chunk_id: str
    doc_id: str
    terms: Sequence[str]


class BM25Tables:
    """The `{name}_*` tables of one lexical index in an open SQLite connection."""

    def __init__(
        self,
        db: sqlite3.Connection,
        name: str,
        config: LexicalConfig,
        reader: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        """`db` takes the writes (in the caller's transaction); `reader` gives the calling
        thread's connection for searches (default: `db`)."""
        if not name.isidentifier():
            raise ValueError(f"table prefix must be an identifier. Currently, it is {name!r}")
        self._db, self._t, self._config = db, name, config
        self._reader = reader or (lambda: db)
        self._mean_idf: tuple[int, float] | None = None  # (generation, mean okapi idf)
        db.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {name}_terms (
                tid INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS {name}_docs (
                num INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL,
                length INTEGER NOT NULL, tids BLOB NOT NULL);
            CREATE INDEX IF NOT EXISTS {name}_docs_doc ON {name}_docs(doc_id);
            CREATE TABLE IF NOT EXISTS {name}_postings (
                tid INTEGER NOT NULL, num INTEGER NOT NULL, tf INTEGER NOT NULL,
                dl INTEGER NOT NULL, PRIMARY KEY (tid, num)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {name}_stats (
                one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL,
                total INTEGER NOT NULL, generation INTEGER NOT NULL);
            INSERT OR IGNORE INTO {name}_stats VALUES (1, 0, 0, 0);
            """
        )

    @property
    def table(self) -> str:
        """The tables' name prefix (`<table>_docs` holds one row per indexed chunk)."""
        return self._t

    # -- writes (inside the caller's transaction) -----------------------------------------

    def add(self, rows: Sequence[LexicalRow]) -> None:
        """Index these chunks; a chunk id already present is replaced."""
        if not rows:
            return
        self.remove([r.chunk_id for r in rows])
        counts = [Counter(r.terms) for r in rows]
        vocabulary = sorted(set().union(*counts))
        t = self._t
        self._db.executemany(
            f"INSERT OR IGNORE INTO {t}_terms (term, df) VALUES (?, 0)",
            [(term,) for term in vocabulary],
        )
        tids = self._tids(vocabulary)
        df: Counter[int] = Counter()
        postings: list[tuple[int, int, int, int]] = []
        for row, count in zip(rows, counts, strict=True):
            length = len(row.terms)
            ids = np.fromiter((tids[term] for term in count), np.int64, len(count))
            num = int(
                self._db.execute(
                    f"INSERT INTO {t}_docs (chunk_id, doc_id, length, tids) VALUES (?, ?, ?, ?)",
                    (row.chunk_id, row.doc_id, length, ids.tobytes()),
                ).lastrowid
                or 0
            )
            for term, tf in count.items():
                postings.append((tids[term], num, tf, length))
                df[tids[term]] += 1
        self._db.executemany(f"INSERT INTO {t}_postings VALUES (?, ?, ?, ?)", postings)
        self._db.executemany(
            f"UPDATE {t}_terms SET df = df + ? WHERE tid = ?", [(n, i) for i, n in df.items()]
        )
        self._bump(len(rows), sum(len(r.terms) for r in rows))

    def remove(self, chunk_ids: Collection[str]) -> None:
        """Drop these chunks from the index; unknown ids are ignored."""
        t = self._t
        ids = list(chunk_ids)
        gone: list[tuple[int, int, bytes]] = []
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            gone += self._db.execute(
                f"SELECT num, length, tids FROM {t}_docs WHERE chunk_id IN "
                f"({','.join('?' * len(part))})",
                part,
            ).fetchall()
        if not gone:
            return
        df: Counter[int] = Counter()
        pairs: list[tuple[int, int]] = []
        for num, _, blob in gone:
            for tid in np.frombuffer(blob, np.int64).tolist():
                pairs.append((tid, num))
                df[tid] += 1
        self._db.executemany(f"DELETE FROM {t}_postings WHERE tid = ? AND num = ?", pairs)
        self._db.executemany(
            f"UPDATE {t}_terms SET df = df - ? WHERE tid = ?", [(n, i) for i, n in df.items()]
        )
        self._db.execute(f"DELETE FROM {t}_terms WHERE df <= 0")
        self._db.executemany(f"DELETE FROM {t}_docs WHERE num = ?", [(g[0],) for g in gone])
        self._bump(-len(gone), -sum(int(g[1]) for g in gone))

    def _bump(self, n: int, total: int) -> None:
        self._db.execute(
            f"UPDATE {self._t}_stats SET n = n + ?, total = total + ?, "
            "generation = generation + 1 WHERE one = 1",
            (n, total),
        )

    def _tids(self, terms: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(terms), _BATCH):
            part = list(terms[start : start + _BATCH])
            out.update(
                self._db.execute(
                    f"SELECT term, tid FROM {self._t}_terms WHERE term IN "
                    f"({','.join('?' * len(part))})",
                    part,
                ).fetchall()
            )
        return out

    # -- reads ----------------------------------------------------------------------------

    def rows(self, chunk_ids: Collection[str]) -> list[LexicalRow]:
        """The indexed terms of these chunks, each as often as it occurs (order lost)."""
        ids = list(chunk_ids)
        terms: dict[tuple[str, str], list[str]] = {}
        db, t = self._reader(), self._t
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            found = db.execute(
                f"SELECT d.chunk_id, d.doc_id, m.term, p.tf FROM {t}_docs d "
                f"JOIN {t}_postings p ON p.num = d.num JOIN {t}_terms m ON m.tid = p.tid "
                f"WHERE d.chunk_id IN ({','.join('?' * len(part))}) ORDER BY d.num, m.term",
                part,
            )
            for chunk_id, doc_id, term, tf in found:
                terms.setdefault((chunk_id, doc_id), []).extend([term] * tf)
        return [LexicalRow(c, d, t) for (c, d), t in terms.items()]

    def count(self) -> int:
        """Number of indexed chunks."""
        return int(self._reader().execute(f"SELECT n FROM {self._t}_stats").fetchone()[0])

    def search(
        self, terms: Sequence[str], k: int, doc_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The `k` best (chunk id, BM25 score) pairs for the query terms, best first; only
        chunks with a positive score. With `doc_ids`, only chunks of those documents."""
        if k <= 0 or not terms:
            return []
        db = self._reader()
        if db.in_transaction:
            return self._search(db, Counter(terms), k, doc_ids)
        db.execute("BEGIN")  # one snapshot for every statement below
        try:
            return self._search(db, Counter(terms), k, doc_ids)
        finally:
            db.execute("COMMIT")

    def ceiling(self, terms: Sequence[str]) -> float:
        """The score no chunk reaches for these terms (`LexicalIndex.ceiling`)."""
        if not terms:
            return 0.0
        query = Counter(terms)
        db = self._reader()
        t = self._t
        n, _, generation = db.execute(f"SELECT n, total, generation FROM {t}_stats").fetchone()
        if n == 0:
            return 0.0
        found = dict(
            db.execute(
                f"SELECT term, df FROM {t}_terms WHERE term IN ({','.join('?' * len(query))})",
                list(query),
            ).fetchall()
        )
        return sum(
            self._idf(db, n, found.get(term, 0), generation) * (self._config.k1 + 1) * repeats
            for term, repeats in query.items()
        )

    def _search(
        self,
        db: sqlite3.Connection,
        query: Counter[str],
        k: int,
        doc_ids: Collection[str] | None,
    ) -> list[tuple[str, float]]:
        t, cfg = self._t, self._config
        n, total, generation = db.execute(f"SELECT n, total, generation FROM {t}_stats").fetchone()
        if n == 0:
            return []
        avgdl = total / n
        found = dict.fromkeys(query, (0, 0))
        found.update(
            (term, (tid, df))
            for term, tid, df in db.execute(
                f"SELECT term, tid, df FROM {t}_terms WHERE term IN ({','.join('?' * len(query))})",
                list(query),
            )
        )
        nums: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for term, (tid, df) in found.items():
            if df == 0:
                continue
            rows = np.asarray(
                db.execute(
                    f"SELECT num, tf, dl FROM {t}_postings WHERE tid = ?", (tid,)
                ).fetchall(),
                dtype=np.float64,
            )
            idf = self._idf(db, n, df, generation)
            tf, dl = rows[:, 1], rows[:, 2]
            part = idf * tf * (cfg.k1 + 1) / (tf + cfg.k1 * (1 - cfg.b + cfg.b * dl / avgdl))
            nums.append(rows[:, 0].astype(np.int64))
            scores.append(part * query[term])  # rank-bm25 counts a repeated query term again
        if not nums:
            return []
        ids, inverse = np.unique(np.concatenate(nums), return_inverse=True)
        total_scores = np.bincount(inverse, weights=np.concatenate(scores))
        if doc_ids is not None:
            keep = np.isin(ids, self._nums_of(db, doc_ids))
            ids, total_scores = ids[keep], total_scores[keep]
        return self._top(db, ids, total_scores, k)

    def _top(
        self, db: sqlite3.Connection, nums: np.ndarray, scores: np.ndarray, k: int
    ) -> list[tuple[str, float]]:
        positive = scores > 0
        nums, scores = nums[positive], scores[positive]
        if len(nums) > k:
            best = np.argpartition(-scores, k - 1)[:k]
            nums, scores = nums[best], scores[best]
        order = np.lexsort((nums, -scores))  # ties: earlier-indexed chunk first
        nums, scores = nums[order], scores[order]
        names = dict(
            db.execute(
                f"SELECT num, chunk_id FROM {self._t}_docs WHERE num IN "
                f"({','.join('?' * len(nums))})",
                nums.tolist(),
            ).fetchall()
        )
        return [(names[int(i)], float(s)) for i, s in zip(nums, scores, strict=True)]

    def _nums_of(self, db: sqlite3.Connection, doc_ids: Collection[str]) -> np.ndarray:
        ids = list(doc_ids)
        nums: list[int] = []
        for start in range(0, len(ids), _BATCH):
            part = ids[start : start + _BATCH]
            nums += [
                r[0]
                for r in db.execute(
                    f"SELECT num FROM {self._t}_docs WHERE doc_id IN ({','.join('?' * len(part))})",
                    part,
                )
            ]
        return np.asarray(nums, dtype=np.int64)

    def _idf(self, db: sqlite3.Connection, n: int, df: int, generation: int) -> float:
        if self._config.idf == "lucene":
            return math.log(1 + (n - df + 0.5) / (df + 0.5))
        idf = math.log((n - df + 0.5) / (df + 0.5))
        if idf >= 0:
            return idf
        return self._config.epsilon * self._okapi_mean_idf(db, n, generation)

    def _okapi_mean_idf(self, db: sqlite3.Connection, n: int, generation: int) -> float:
        """rank-bm25's floor for negative idf: the mean idf over the whole vocabulary."""
        if self._mean_idf is None or self._mean_idf[0] != generation:
            df = np.asarray(
                db.execute(f"SELECT df FROM {self._t}_terms").fetchall(), dtype=np.float64
            )
            mean = float(np.mean(np.log((n - df + 0.5) / (df + 0.5)))) if len(df) else 0.0
            self._mean_idf = (generation, mean)
        return self._mean_idf[1]
