"""The catalog (`Catalog`) and its BM25 postings (`LexicalIndex`): versions made visible
whole or not at all, replaced, removed, interrupted; file states; every backend, the same
behaviour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.catalog import DocRecord, DocWrite
from rag.config import LexicalConfig
from rag.errors import StoreError
from rag.lexical.bm25 import LexicalRow
from rag.state.base import Catalog, StateBackend
from tests.rag.state.conftest import MakeState


@pytest.fixture
def catalog(state: StateBackend) -> Iterator[Catalog]:
    opened = state.catalog("default", LexicalConfig())
    yield opened
    opened.close()


def _write(doc: str, version: str, texts: list[str], source: str = "") -> DocWrite:
    ids = [f"{doc}-{version}-{n}" for n in range(len(texts))]
    record = DocRecord(doc, source or f"{doc}.md", f"/files/{doc}.md", version, len(texts), doc)
    rows = [LexicalRow(i, doc, t.split()) for i, t in zip(ids, texts, strict=True)]
    return DocWrite(record, ids, rows, f"{doc}-{version}-summary", texts[0].split())


def test_a_version_is_invisible_until_committed(catalog: Catalog) -> None:
    write = _write("a", "v1", ["harbour lighthouse keeper", "tides and ships"])
    catalog.begin([write])
    assert catalog.get("a") is None and catalog.visible(write.chunk_ids) == set()
    assert sorted(catalog.leftovers()[0]) == sorted(write.store_ids)  # an intent, recorded
    assert catalog.bm25.search(["lighthouse"], 5) == []
    catalog.commit([write])
    assert catalog.get("a") == write.record and catalog.leftovers() == ([], [])
    assert catalog.visible([*write.chunk_ids, "nope"]) == set(write.chunk_ids)
    assert catalog.visible_summaries(["a-v1-summary"]) == {"a-v1-summary"}
    assert set(catalog.chunk_ids("a")) == set(write.chunk_ids)
    assert (catalog.count_documents(), catalog.count_chunks()) == (1, 2)
    assert [i for i, _ in catalog.bm25.search(["lighthouse"], 5)] == ["a-v1-0"]
    assert [i for i, _ in catalog.summary_bm25.search(["keeper"], 5)] == ["a"]


def test_a_new_version_replaces_the_old_and_leaves_it_as_garbage(catalog: Catalog) -> None:
    old = _write("a", "v1", ["old harbour text"])
    new = _write("a", "v2", ["new lighthouse text", "second chunk"])
    for write in (old, new):
        catalog.begin([write])
        catalog.commit([write])
    assert catalog.get("a") == new.record and catalog.visible(old.chunk_ids) == set()
    assert catalog.bm25.search(["harbour"], 5) == [] and catalog.bm25.count() == 2
    deleted: list[str] = []
    assert set(catalog.collect(deleted.extend)) == {"a-v1-0", "a-v1-summary"}
    assert set(deleted) == {"a-v1-0", "a-v1-summary"}
    assert catalog.leftovers() == ([], []) and catalog.collect(deleted.extend) == []


def test_an_interrupted_write_becomes_garbage_never_visible(catalog: Catalog) -> None:
    done = _write("a", "v1", ["kept text"])
    catalog.begin([done])
    catalog.commit([done])
    lost = _write("b", "v1", ["never committed"])
    catalog.begin([lost])  # the writer died here
    assert catalog.visible(lost.chunk_ids) == set()
    # with concurrent writers, a young intent is another writer's work in progress
    assert catalog.collect(lambda ids: None, stale_s=3600) == []
    assert sorted(catalog.leftovers()[0]) == sorted(lost.store_ids)
    assert set(catalog.collect(lambda ids: None)) == set(lost.store_ids)  # stalled: taken
    assert catalog.leftovers()[0] == [] and catalog.get("b") is None


def test_collecting_never_deletes_what_a_live_write_intends(catalog: Catalog) -> None:
    """A replaced chunk id that another write is putting back (the same content) stays."""
    old = _write("a", "v1", ["shared text", "old only"])
    new = _write("a", "v2", ["new text"])
    for write in (old, new):
        catalog.begin([write])
        catalog.commit([write])
    again = _write("a", "v1", ["shared text", "old only"])  # v1 written again, in flight
    catalog.begin([again])
    deleted: list[str] = []
    catalog.collect(deleted.extend, stale_s=3600)
    assert not set(deleted) & set(again.store_ids)
    catalog.commit([again])
    assert catalog.get("a") == again.record and catalog.visible(again.chunk_ids) == set(
        again.chunk_ids
    )


def test_a_commit_whose_intent_was_collected_is_refused_unless_already_done(
    catalog: Catalog,
) -> None:
    slow = _write("a", "v1", ["slow writer"])
    catalog.begin([slow])
    catalog.collect(lambda ids: None)  # taken for stalled
    with pytest.raises(StoreError, match="taken for stalled"):
        catalog.commit([slow])
    assert catalog.get("a") is None
    twice = _write("b", "v1", ["two workers, one document"])
    catalog.begin([twice])
    catalog.begin([twice])  # a second worker, the same version
    catalog.commit([twice])
    catalog.commit([twice])  # the second finds it done: no error, nothing changes
    assert catalog.get("b") == twice.record and catalog.count_documents() == 1


def test_remove_hides_now(catalog: Catalog) -> None:
    write = _write("a", "v1", ["harbour lighthouse"])
    catalog.begin([write])
    catalog.commit([write])
    assert catalog.remove("a") is True and catalog.remove("a") is False
    assert catalog.get("a") is None and catalog.visible(write.chunk_ids) == set()
    assert catalog.bm25.search(["harbour"], 5) == [] and catalog.bm25.count() == 0
    assert catalog.summary_bm25.search(["harbour"], 5) == []
    assert set(catalog.leftovers()[1]) == set(write.store_ids)


def test_documents_listed_by_file_and_prefix(catalog: Catalog) -> None:
    writes = [
        _write("a", "v1", ["one"], source="docs/hr/a.md"),
        _write("b", "v1", ["two"], source="docs/it/b.md"),
    ]
    catalog.begin(writes)
    catalog.commit(writes)
    assert [d.doc_id for d in catalog.documents()] == ["a", "b"]
    assert [d.doc_id for d in catalog.documents(file="/files/b.md")] == ["b"]
    assert catalog.doc_ids("docs/hr/") == {"a"} and catalog.doc_ids() == {"a", "b"}
    snapshot = catalog.snapshot()
    assert snapshot.documents == {"a", "b"} and snapshot.lexical == {"a-v1-0", "b-v1-0"}
    assert snapshot.owner["b-v1-summary"] == "b" and not snapshot.pending


def test_file_states_and_failures(catalog: Catalog) -> None:
    assert catalog.file_state("/f.md") is None and catalog.failure("/f.md") is None
    catalog.remember_failure("/f.md", "abc", [("f.md", "cannot parse")])
    assert catalog.failure("/f.md") == ("abc", [("f.md", "cannot parse")])
    catalog.set_file_state("/f.md", "def", 10, 123)
    assert catalog.file_state("/f.md") == ("def", 10, 123)
    assert catalog.failure("/f.md") is None  # parsed since: the failure is forgotten
    assert catalog.file_states() == {"/f.md": "def"}
    catalog.forget_file("/f.md")
    assert catalog.file_state("/f.md") is None and catalog.file_states() == {}


def test_bm25_scores_rank_and_filter(catalog: Catalog) -> None:
    writes = [
        _write("a", "v1", ["lighthouse lighthouse harbour", "ships"]),
        _write("b", "v1", ["lighthouse keeper", "harbour wall"]),
        _write("c", "v1", ["unrelated words here"]),
    ]
    catalog.begin(writes)
    catalog.commit(writes)
    ranked = catalog.bm25.search(["lighthouse"], 10)
    assert [i for i, _ in ranked] == ["a-v1-0", "b-v1-0"]  # more occurrences first
    assert ranked[0][1] > ranked[1][1] > 0
    assert [i for i, _ in catalog.bm25.search(["lighthouse"], 1)] == ["a-v1-0"]
    only_b = catalog.bm25.search(["lighthouse", "harbour"], 10, doc_ids={"b"})
    assert {i for i, _ in only_b} == {"b-v1-0", "b-v1-1"}
    assert catalog.bm25.search(["absent"], 10) == [] and catalog.bm25.count() == 5
    # The ceiling: no chunk reaches it, a repeated term counts again, a term no chunk has
    # counts at the highest idf (the question names what the corpus does not).
    ceiling = catalog.bm25.ceiling(["lighthouse", "harbour"])
    best = catalog.bm25.search(["lighthouse", "harbour"], 1)[0][1]
    assert 0 < best < ceiling
    lighthouse, absent = catalog.bm25.ceiling(["lighthouse"]), catalog.bm25.ceiling(["absent"])
    assert catalog.bm25.ceiling(["lighthouse", "lighthouse"]) == pytest.approx(2 * lighthouse)
    assert absent > lighthouse > 0 and catalog.bm25.ceiling(["nowhere"]) == pytest.approx(absent)
    assert catalog.bm25.ceiling(["lighthouse", "absent"]) == pytest.approx(lighthouse + absent)
    assert catalog.bm25.ceiling([]) == 0.0


def test_a_dropped_knowledge_base_catalog_is_empty_when_opened_again(
    state: StateBackend,
) -> None:
    hr = state.catalog("hr", LexicalConfig())
    write = _write("a", "v1", ["leave policy"])
    hr.begin([write])
    hr.commit([write])
    hr.close()
    other = state.catalog("default", LexicalConfig())
    other.begin([_write("b", "v1", ["kept"])])
    other.commit([_write("b", "v1", ["kept"])])
    other.close()
    state.drop_catalog("hr")
    state.drop_catalog("hr")  # idempotent
    again = state.catalog("hr", LexicalConfig())
    kept = state.catalog("default", LexicalConfig())
    try:
        assert again.count_documents() == 0 and again.bm25.count() == 0
        assert kept.get("b") is not None  # another knowledge base's catalog untouched
    finally:
        again.close()
        kept.close()


def test_a_catalog_is_copied_whole_into_another_state(
    state: StateBackend, make_state: MakeState
) -> None:
    """`rag reindex` into another data dir: the documents, file states and postings arrive;
    what the target held for that knowledge base is replaced."""
    source = state.catalog("hr", LexicalConfig())
    write = _write("a", "v1", ["annual leave policy", "carry over rules"])
    source.begin([write])
    source.commit([write])
    source.set_file_state("/files/a.md", "sha-a", 10, 20)
    source.close()
    target = make_state("elsewhere")
    stale = target.catalog("hr", LexicalConfig())
    stale.begin([_write("z", "v1", ["stale"])])
    stale.commit([_write("z", "v1", ["stale"])])
    stale.close()
    state.copy_catalog("hr", target)
    copied = target.catalog("hr", LexicalConfig())
    try:
        assert copied.get("a") == write.record and copied.get("z") is None
        assert copied.file_state("/files/a.md") == ("sha-a", 10, 20)
        assert [i for i, _ in copied.bm25.search(["leave"], 5)] == ["a-v1-0"]
    finally:
        copied.close()
