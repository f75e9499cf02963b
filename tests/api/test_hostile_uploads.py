"""The hostile-file suite uploaded through the API to a real `rag serve`: the same limits
hold, the job finishes, the service stays up, nothing leaks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.api.conftest import wait_job
from tests.support.api_server import ApiServer
from tests.support.hostile import PASSWD_MARK, recorder, write_hostile


def test_hostile_files_uploaded(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    settings = {
        "RAG_PARSER__TIMEOUT_S": "20",
        "RAG_PARSER__ZIP_MAX_TOTAL_MB": "40",
        "RAG_PARSER__MAX_FILE_MB": "100",
        "RAG_API__MAX_FILE_MB": "100",
        "RAG_API__MAX_BODY_MB": "200",
        "TMPDIR": str(tmp),
    }
    data_dir = tmp_path / "index"
    with recorder() as seen:
        folder = tmp_path / "hostile"
        made = write_hostile(folder, seen.url, bomb_mb=60)
        files = [
            p
            for p in sorted(folder.iterdir())
            if not p.is_symlink() and stat.S_ISREG(p.stat().st_mode) and p.stat().st_size < 1e8
        ]
        with ApiServer(data_dir, settings) as server, server.client(timeout=300) as client:
            response = client.post(
                "/v1/kbs/default/documents",
                files=[("files", (os.fsdecode(p.name), p.read_bytes())) for p in files],
            )
            assert response.status_code == 202, response.text
            job = wait_job(client, response.json()["id"], timeout_s=900)
            assert client.get("/healthz").status_code == 200
            listed = client.get("/v1/kbs/default/documents", params={"limit": 500}).json()
        requests = list(seen.requests)
    assert job["state"] == "done", job
    results = {str(f["source"]): f for f in job["files"]}  # type: ignore[union-attr]
    by_name = {name.split("!")[0]: r for name, r in results.items()}
    print(f"uploaded {len(files)} of {len(made)} hostile files (links, FIFO, sparse: CLI only)")
    assert "zip_max_total_mb" in by_name["bomb-flat.zip"]["reason"]
    assert "zip_max_depth" in by_name["bomb-nested.zip"]["reason"]
    assert "zip_max_total_mb" in by_name["inflating.docx"]["reason"]
    for name in ("xxe.docx", "laughs.docx", "laughs.xml", "xxe.xml"):
        assert by_name[name]["status"] == "failed" and "XML entities" in by_name[name]["reason"]
    assert by_name["nested.xml"]["status"] == "failed"
    long_name = next(n for n in made if n.startswith("xxx"))
    assert by_name[long_name[:196] + ".txt"]["status"] in ("parsed", "skipped")
    assert {os.fsdecode(p.name) for p in files} - set(by_name) == {"new\nline.txt", long_name}
    assert "control characters" in by_name["new\\nline.txt"]["reason"]
    assert requests == [], f"a parser contacted the recorder: {requests}"
    assert [p.name for p in tmp.iterdir() if p.name.startswith("rag-")] == []
    assert not any((data_dir / "uploads").iterdir()), "an upload's files stayed behind"
    sources = [d["source"] for d in listed["documents"]]
    assert not any("slipped" in s and not s.startswith("slip.zip!") for s in sources)
    for file in data_dir.rglob("*"):
        if file.is_file():
            assert PASSWD_MARK.encode() not in file.read_bytes(), file
