"""The record of sources (`SourceLog`): every backend, the same behaviour."""

from __future__ import annotations

from rag.catalog import DocRecord
from rag.sources import RecordedDoc, Sources
from rag.state.base import StateBackend


def _doc(n: int, version: str = "v1") -> DocRecord:
    return DocRecord(f"file:{n:032x}", f"docs/{n}.md", f"/srv/docs/{n}.md", version, 3)


def test_entries_fold_in_the_order_written_and_survive_a_new_handle(
    state: StateBackend,
) -> None:
    record = state.sources("hr")
    assert not record.exists() and record.read().docs == {}
    record.put([_doc(1), _doc(2)])
    record.file("/srv/docs/1.md", "sha-1")
    record.put([_doc(1, "v2")])  # changed since
    record.removed(_doc(2).doc_id)
    record.file("/srv/docs/9.md", "sha-9")
    record.forgot("/srv/docs/9.md")
    held = state.sources("hr").read()  # another handle, as another worker
    assert state.sources("hr").exists()
    assert held.docs == {
        _doc(1).doc_id: RecordedDoc(_doc(1).doc_id, "docs/1.md", "/srv/docs/1.md", "v2")
    }
    assert held.files == {"/srv/docs/1.md": "sha-1"} and held.lines == 7 and held.torn == 0
    assert state.sources("other").read().docs == {}  # per knowledge base


def test_rewrite_folds_and_remove_forgets(state: StateBackend) -> None:
    record = state.sources("default")
    for version in range(1200):  # grows past twice what is live, plus 1000 lines
        record.put([_doc(1, f"v{version}")])
    assert record.read().lines == 1200
    record.compact()
    folded = record.read()
    assert folded.lines == 1 and folded.docs[_doc(1).doc_id].version == "v1199"
    record.rewrite(Sources.of([_doc(7)], {"/srv/docs/7.md": "sha-7"}))
    again = record.read()
    assert set(again.docs) == {_doc(7).doc_id} and again.files == {"/srv/docs/7.md": "sha-7"}
    record.remove()
    assert not record.exists() and record.read().docs == {}
