"""The service runs `rag doctor` on every knowledge base at start-up, repairs as the writer,
and reports what it found in /readyz."""

from __future__ import annotations

import time
from pathlib import Path

from rag.config import RagConfig
from rag.doctor import check_index
from tests.rag.test_doctor import GUIDE, KINDS, _inject
from tests.support.api_server import ApiServer
from tests.support.app import ingest, opened


def test_start_up_check_repairs_and_reports(tmp_path: Path) -> None:
    config = RagConfig(data_dir=tmp_path / "index")
    assert ingest(config, [GUIDE]).exit_code == 0
    damaged = _inject(config)
    with ApiServer(config.data_dir) as server, server.client() as client:
        deadline = time.monotonic() + 60
        while (ready := client.get("/readyz").json())["checks"]["consistency"] == "checking":
            assert time.monotonic() < deadline, "the start-up check did not finish"
            time.sleep(0.2)
        listed = client.get("/v1/kbs/default/documents").json()
    consistency = ready["checks"]["consistency"]
    assert consistency.startswith("repaired: default "), ready
    assert {kind for kind in KINDS if kind in consistency} == KINDS
    assert ready["status"] == "ready"
    sources = {d["source"] for d in listed["documents"]}
    assert damaged["broken"] not in sources and damaged["emptied"] not in sources
    with opened(config, model=False) as app:
        assert check_index(app.index, "default").findings == []
