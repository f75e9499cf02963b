"""The service's components, built as `rag serve` builds them, need no torch with the
default onnx embedder (a fresh process: nothing imported before)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from api.service import build_services
from rag.config import RagConfig
services = build_services(RagConfig(data_dir=sys.argv[1]))
hits = services.runtime.kb().pipeline.search.retrieve("paid leave", 3)
services.close()
print(json.dumps({"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules}))
"""


def test_the_service_is_built_and_searches_without_torch(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"torch": False, "transformers": False}
