"""`rag serve` over an index the CLI built, with no generation model configured: the
documents' ids show no server path (they were the absolute path of the file) and work for
showing and deleting; a request naming a model is refused in words (it was silently
answered without one)."""

from __future__ import annotations

from pathlib import Path

from rag.config import RagConfig
from rag.sources import file_doc_id
from tests.support.api_server import ApiServer
from tests.support.app import ingest


def test_cli_documents_have_ids_without_server_paths(tmp_path: Path) -> None:
    folder = tmp_path / "private-layout" / "handbook"
    folder.mkdir(parents=True)
    (folder / "leave.md").write_text("# Leave\n\nEmployees get 25 days of leave.\n", "utf-8")
    (folder / "travel.md").write_text("# Travel\n\nBook trains in second class.\n", "utf-8")
    config = RagConfig(data_dir=tmp_path / "index")
    report = ingest(config, [folder])
    assert report.exit_code == 0 and report.count("parsed") == 2
    with ApiServer(config.data_dir) as server, server.client() as client:
        listed = client.get("/v1/kbs/default/documents")
        assert listed.status_code == 200, listed.text
        docs = listed.json()["documents"]
        assert len(docs) == 2
        ids = {d["doc_id"] for d in docs}
        assert ids == {file_doc_id(str(folder / name)) for name in ("leave.md", "travel.md")}
        assert all(i.startswith("file:") and "/" not in i for i in ids)
        one = sorted(ids)[0]
        shown = client.get(f"/v1/kbs/default/documents/{one}")
        assert shown.status_code == 200 and shown.json()["doc_id"] == one
        assert client.delete(f"/v1/kbs/default/documents/{one}").status_code == 204
        assert len(client.get("/v1/kbs/default/documents").json()["documents"]) == 1

        question = {"question": "How many days of leave?", "generation": {"model": "qwen"}}
        named = client.post("/v1/query", json=question)
        assert named.status_code == 404, named.text
        error = named.json()["error"]
        assert error["code"] == "model_not_found"
        assert "generator.backend is none" in error["message"]
        # The document left answers its own question; the deleted one's is not answered.
        kept = file_doc_id(str(folder / "travel.md")) != one
        questions = ["How many days of leave?", "Which class are trains booked in?"]
        answered, gone = questions[kept], questions[not kept]
        plain = client.post("/v1/query", json={"question": answered})
        assert plain.status_code == 200 and plain.json()["sources"], plain.text
        abstained = client.post("/v1/query", json={"question": gone}).json()
        assert abstained["no_context"] and not abstained["sources"], abstained
