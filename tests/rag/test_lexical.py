"""The BM25 index against rank-bm25, its incremental updates, and the zh/en analyzer."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path

import pytest
from rank_bm25 import BM25Okapi

from rag.config import LexicalConfig
from rag.errors import ConfigError
from rag.lexical.analyzer import Analyzer
from rag.lexical.bm25 import BM25Tables, LexicalRow

OKAPI = LexicalConfig(idf="okapi")


def _tables(config: LexicalConfig = OKAPI) -> BM25Tables:
    db = sqlite3.connect(":memory:", isolation_level=None)
    return BM25Tables(db, "lex", config)


def _index(tables: BM25Tables, docs: list[list[str]], prefix: str = "c") -> None:
    tables.add([LexicalRow(f"{prefix}{i}", f"d{i}", terms) for i, terms in enumerate(docs)])


def _reference(docs: list[list[str]], query: list[str]) -> dict[str, float]:
    scores = BM25Okapi(docs).get_scores(query)
    return {f"c{i}": float(s) for i, s in enumerate(scores) if s > 0}


@pytest.fixture(scope="module")
def scifact_terms(scifact_dir: Path) -> tuple[list[list[str]], list[list[str]]]:
    analyzer = Analyzer(LexicalConfig())
    with (scifact_dir / "corpus.jsonl").open() as handle:
        rows = [json.loads(line) for _, line in zip(range(400), handle, strict=False)]
    with (scifact_dir / "queries.jsonl").open() as handle:
        queries = [json.loads(line)["text"] for _, line in zip(range(40), handle, strict=False)]
    docs = [analyzer.terms(f"{r['title']}\n{r['text']}") for r in rows]
    return docs, [analyzer.terms(q) for q in queries]


def test_scores_match_rank_bm25_on_scifact(
    scifact_terms: tuple[list[list[str]], list[list[str]]],
) -> None:
    docs, queries = scifact_terms
    tables = _tables()
    _index(tables, docs)
    compared = 0
    for query in queries:
        expected = _reference(docs, query)
        got = dict(tables.search(query, k=len(docs)))
        assert got.keys() == expected.keys()
        for chunk_id, score in expected.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-9)
        compared += len(expected)
    assert compared > 100


def test_negative_idf_is_floored_like_rank_bm25() -> None:
    # "common" is in 3 of 4 documents: its okapi idf is negative and rank-bm25 floors it at
    # epsilon x mean idf; the repeated query term counts twice, as in rank-bm25.
    docs = [["common", "alpha"], ["common", "beta", "beta"], ["common", "gamma"], ["delta"]]
    query = ["common", "beta", "common"]
    tables = _tables()
    _index(tables, docs)
    expected = _reference(docs, query)
    got = dict(tables.search(query, k=10))
    assert got.keys() == expected.keys() and len(got) == 3
    for chunk_id, score in expected.items():
        assert got[chunk_id] == pytest.approx(score, rel=1e-9)


def test_lucene_idf_by_hand() -> None:
    docs = [["a", "b"], ["a", "a", "c"], ["d"]]
    tables = _tables(LexicalConfig(idf="lucene", k1=1.2, b=0.75))
    _index(tables, docs)
    avgdl = 6 / 3
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected = {
        "c0": idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / avgdl)),
        "c1": idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / avgdl)),
    }
    got = dict(tables.search(["a"], k=5))
    assert got == pytest.approx(expected)


def test_best_first_and_k_limit() -> None:
    docs = [["x"] * n + ["pad"] * (5 - n) for n in range(1, 6)]
    tables = _tables(LexicalConfig())
    _index(tables, docs)
    hits = tables.search(["x"], k=3)
    assert [c for c, _ in hits] == ["c4", "c3", "c2"]
    assert hits[0][1] > hits[1][1] > hits[2][1]


def test_small_corpus_still_scores_with_lucene_idf() -> None:
    # With two documents, a term in one of them has okapi idf log(1.5 / 1.5) = 0.
    docs = [["leave", "policy"], ["travel", "policy"]]
    okapi, lucene = _tables(), _tables(LexicalConfig())
    _index(okapi, docs)
    _index(lucene, docs)
    assert okapi.search(["leave"], 5) == []
    assert [c for c, _ in lucene.search(["leave"], 5)] == ["c0"]


def test_remove_and_replace_equal_a_fresh_build() -> None:
    docs = [["apple", "pie"], ["apple", "tart"], ["cherry", "pie"], ["plum"]]
    tables = _tables()
    _index(tables, docs)
    tables.remove(["c1", "missing"])
    tables.add([LexicalRow("c2", "d2", ["cherry", "cake"])])  # replaces c2
    survivors = {"c0": ["apple", "pie"], "c2": ["cherry", "cake"], "c3": ["plum"]}
    fresh = _tables()
    fresh.add([LexicalRow(c, "d", t) for c, t in survivors.items()])
    for query in (["apple"], ["pie"], ["tart"], ["cherry", "cake"], ["plum", "apple"]):
        assert tables.search(query, 10) == fresh.search(query, 10)
    assert tables.search(["tart"], 10) == []
    assert tables.count() == 3


def test_search_restricted_to_documents() -> None:
    tables = _tables()
    tables.add(
        [
            LexicalRow("c0", "doc-a", ["leave", "policy"]),
            LexicalRow("c1", "doc-b", ["leave", "leave"]),
            LexicalRow("c2", "doc-b", ["travel"]),
        ]
    )
    assert [c for c, _ in tables.search(["leave"], 10)] == ["c1", "c0"]
    assert [c for c, _ in tables.search(["leave"], 10, doc_ids={"doc-a"})] == ["c0"]
    assert tables.search(["leave"], 10, doc_ids=set()) == []


def test_chinese_query_finds_chunk_a_whitespace_tokenizer_cannot() -> None:
    docs = ["老年人容易患骨质疏松症，应该补充维生素D。", "今天的天气很好，我们去公园散步。"]
    query = "骨质疏松怎么预防"
    whitespace = _tables()
    _index(whitespace, [d.lower().split() for d in docs])
    assert whitespace.search(query.split(), 10) == []
    analyzer = Analyzer(LexicalConfig())
    ours = _tables(LexicalConfig())
    _index(ours, [analyzer.terms(d) for d in docs])
    assert [c for c, _ in ours.search(analyzer.terms(query), 10)] == ["c0"]


def test_mixed_chinese_english_in_one_pass() -> None:
    terms = Analyzer(LexicalConfig()).terms("RLHF使用PPO算法训练 Running models, 中华人民共和国")
    assert terms[:2] == ["rlhf", "使用"]
    assert {"ppo", "算法", "训练", "run", "model", "人民", "中华人民共和国"} <= set(terms)
    assert "," not in terms and " " not in terms


def test_traditional_and_simplified_questions_find_each_other() -> None:
    """Traditional characters are indexed as Simplified (OpenCC t2s) before jieba, whose
    dictionary is Simplified: a question in either script finds a passage in either."""
    traditional = "員工每年享有二十天帶薪年假，資訊安全培訓每季度舉行一次。"
    simplified = "员工每年享有二十天带薪年假，信息安全培训每季度举行一次。"
    analyzer = Analyzer(LexicalConfig())
    assert analyzer.terms(traditional)[:4] == analyzer.terms(simplified)[:4]
    tables = _tables(LexicalConfig())
    _index(tables, [analyzer.terms(traditional), analyzer.terms("今天的天气很好。")])
    assert [c for c, _ in tables.search(analyzer.terms("带薪年假有几天"), 10)] == ["c0"]
    kept = Analyzer(LexicalConfig(traditional="keep"))
    assert "带薪" not in kept.terms(traditional)


def test_analyzer_options() -> None:
    plain = Analyzer(LexicalConfig(stopwords=[], stemmer="none", lowercase=False))
    assert plain.terms("The Running dogs") == ["The", "Running", "dogs"]
    chars = Analyzer(LexicalConfig(chinese="chars"))
    assert chars.terms("骨质疏松") == ["骨", "质", "疏", "松"]
    with pytest.raises(ConfigError, match="not a Snowball language"):
        Analyzer(LexicalConfig(stemmer="klingon"))
    with pytest.raises(ConfigError, match="unknown lists"):
        Analyzer(LexicalConfig(stopwords=["xx"]))


def test_jieba_loads_once_into_our_cache_not_tmpdir(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from rag.config import LexicalConfig\n"
        "from rag.lexical.analyzer import Analyzer, jieba_tokenizer, warm_up_chinese\n"
        "warm_up_chinese().join()\n"
        "a, b = Analyzer(LexicalConfig()), Analyzer(LexicalConfig())\n"
        "assert a.terms('员工年假有几天') == b.terms('员工年假有几天')\n"
        "assert jieba_tokenizer() is jieba_tokenizer()\n"
    )
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    (tmp_path / "tmp").mkdir()
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    assert (tmp_path / "cache" / "rag-framework" / "jieba" / "jieba.cache").is_file()
    assert not list((tmp_path / "tmp").iterdir())  # nothing of jieba's left in TMPDIR
