"""A STAND-IN for an Ollama server (no Ollama can be installed here), for the `ollama`
backend's tests. It implements the documented shapes of Ollama's native API:

- `POST /api/chat`: streamed NDJSON (`{"message": {"content": ...}, "done": false}` lines,
  then a `done: true` line with `done_reason` and counts), or one JSON object with
  `"stream": false`; `options.num_predict` and `options.stop` end the reply as Ollama does;
  404 `{"error": ...}` for an unknown model.
- `POST /api/embed` (`input`: a text or a list): `{"embeddings": [[...], ...]}`, one vector
  per text, NOT from a model: a hashed bag of the text's words and CJK characters, so that
  texts sharing words are close (enough for retrieval over a small folder); 404 for an
  unknown model, and the statuses of `embed_fail_next` first.
- `GET /api/tags` (with each model's `digest`), `POST /api/show` (with
  `model_info["<arch>.context_length"]`).
- `HEAD`/`POST /api/blobs/sha256:<hex>` (the digest is checked) and `POST /api/create` with
  `files`: the blob is read as GGUF (with the `gguf` package) and the model registered with
  the context length and architecture the file declares.

What it does not do: run a model. The reply is scripted (`reply`), and everything about the
model's behaviour (templates applied, real truncation at num_ctx, load times, keep_alive
eviction) is NOT exercised.

Example:
    >>> with OllamaStandIn() as server:  # doctest: +SKIP
    ...     server.add_model("security", context_length=4096)
    ...     print(server.url)
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["OllamaStandIn"]

DEFAULT_REPLY = "Employees get twenty days of paid leave [1]. Unused days carry over [9]."
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass
class _Model:
    name: str
    context_length: int
    architecture: str = "llama"
    template: str = "{{ .Prompt }}"
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    digest: str = ""


def _full(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


class OllamaStandIn:
    """Serves Ollama's API on a free loopback port, in a thread."""

    def __init__(self) -> None:
        self.models: dict[str, _Model] = {}
        self.chats: list[dict[str, Any]] = []  # every /api/chat request body, in order
        self.reply: Callable[[list[dict[str, Any]]], str] = lambda messages: DEFAULT_REPLY
        self.fail_next: list[int] = []  # statuses /api/chat answers first, one per request
        self.embeds: list[dict[str, Any]] = []  # every /api/embed request body, in order
        self.embed_fail_next: list[int] = []
        self.embed_dim = 32
        self.embeds_in_flight = self.most_embeds_in_flight = 0
        self._embed_lock = threading.Lock()
        self.hang = threading.Event()  # set: /api/chat waits until `release` is set
        self.release = threading.Event()
        self._blobs = Path(tempfile.mkdtemp(prefix="ollama-standin-"))
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OllamaStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._blobs, ignore_errors=True)

    def add_model(self, name: str, context_length: int = 4096, digest: str = "") -> None:
        self.models[_full(name)] = _Model(_full(name), context_length, digest=digest)

    # --- the API --------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.chats.append(body)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, {"error": f"stand-in failure {status}"}
        if self.hang.is_set():
            self.release.wait(60)
        model = self.models.get(_full(body.get("model", "")))
        if model is None:
            return 404, {"error": f"model '{body.get('model')}' not found, try pulling it first"}
        options = body.get("options") or {}
        pieces, reason = self._pieces(self.reply(body["messages"]), options)
        prompt = sum(len(m.get("content", "").split()) for m in body["messages"])
        final = {
            "model": model.name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": reason,
            "total_duration": 1000,
            "prompt_eval_count": min(prompt, options.get("num_ctx", 4096)),
            "eval_count": len(pieces),
        }
        if body.get("stream") is False:
            final["message"]["content"] = "".join(pieces)
            return 200, final
        lines = [
            {
                "model": model.name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in pieces
        ]
        return 200, iter([*lines, final])

    def _embed(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._embed_lock:
            self.embeds.append(body)
            self.embeds_in_flight += 1
            self.most_embeds_in_flight = max(self.most_embeds_in_flight, self.embeds_in_flight)
            status = self.embed_fail_next.pop(0) if self.embed_fail_next else 200
        try:
            time.sleep(0.02)  # long enough for concurrent requests to overlap
            if status != 200:
                return status, {"error": f"stand-in failure {status}"}
            model = self.models.get(_full(body.get("model", "")))
            if model is None:
                return 404, {"error": f"model '{body.get('model')}' not found"}
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return 200, {"model": model.name, "embeddings": [self._vector(t) for t in texts]}
        finally:
            with self._embed_lock:
                self.embeds_in_flight -= 1

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.embed_dim
        for term in re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower()):
            vector[int(hashlib.md5(term.encode()).hexdigest(), 16) % self.embed_dim] += 1.0
        vector[0] += 0.01  # never all zeros
        return vector

    @staticmethod
    def _pieces(text: str, options: dict[str, Any]) -> tuple[list[str], str]:
        pieces = _PIECE.findall(text)
        reason = "stop"
        limit = options.get("num_predict")
        if limit is not None and 0 <= limit < len(pieces):
            pieces, reason = pieces[:limit], "length"
        out: list[str] = []
        for piece in pieces:
            so_far = "".join(out) + piece
            hit = min(
                (so_far.find(s) for s in options.get("stop") or [] if s in so_far),
                default=-1,
            )
            if hit >= 0:
                cut = so_far[:hit][len("".join(out)) :]
                return [*out, cut] if cut else out, "stop"
            out.append(piece)
        return out, reason

    def _tags(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "modified_at": _now(),
                    "size": 1000,
                    "digest": m.digest or hashlib.sha256(m.name.encode()).hexdigest(),
                    "details": {"format": "gguf", "family": m.architecture},
                }
                for m in self.models.values()
            ]
        }

    def _show(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = self.models.get(_full(body.get("model", "")))
        if model is None:
            return 404, {"error": f"model '{body.get('model')}' not found"}
        params = "\n".join(f"{k} {v}" for k, v in model.parameters.items())
        return 200, {
            "modelfile": f"FROM {model.name}\n",
            "parameters": params,
            "template": model.template,
            "system": model.system,
            "details": {"format": "gguf", "family": model.architecture},
            "model_info": {
                "general.architecture": model.architecture,
                f"{model.architecture}.context_length": model.context_length,
            },
            "capabilities": ["completion"],
            "modified_at": _now(),
        }

    def _put_blob(self, digest: str, data: bytes) -> tuple[int, Any]:
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            return 400, {"error": "digest mismatch"}
        (self._blobs / digest.replace(":", "-")).write_bytes(data)
        return 201, None

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        import gguf

        files = body.get("files") or {}
        if not body.get("model") or len(files) != 1:
            return 400, {"error": "stand-in: create needs a model name and one GGUF file"}
        digest = next(iter(files.values()))
        blob = self._blobs / digest.replace(":", "-")
        if not blob.exists():
            return 400, {"error": f"blob {digest} not found; upload it first"}
        try:
            reader = gguf.GGUFReader(str(blob))
            arch = _field(reader, "general.architecture")
            context = int(_field(reader, f"{arch}.context_length"))
        except (ValueError, KeyError, IndexError) as exc:
            return 400, {"error": f"invalid GGUF: {exc}"}
        model = _Model(_full(body["model"]), context, str(arch))
        model.template = body.get("template") or model.template
        model.system = body.get("system") or ""
        model.parameters = dict(body.get("parameters") or {})
        self.models[model.name] = model
        statuses = ["parsing GGUF", f"using existing layer {digest}", "writing manifest"]
        return 200, iter([{"status": s} for s in [*statuses, "success"]])


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing; the API lives in `OllamaStandIn`."""

    protocol_version = "HTTP/1.1"
    standin: OllamaStandIn

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    return data
                data += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload: Any) -> None:
        if isinstance(payload, Iterator):
            self.send_response(status)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in payload:
                data = json.dumps(line).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._send(200, self.standin._tags())
        else:
            self._send(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        digest = self.path.removeprefix("/api/blobs/")
        exists = (self.standin._blobs / digest.replace(":", "-")).exists()
        self.send_response(200 if exists else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        raw = self._body()
        if self.path.startswith("/api/blobs/"):
            self._send(*self.standin._put_blob(self.path.removeprefix("/api/blobs/"), raw))
            return
        body = json.loads(raw or b"{}")
        standin = self.standin
        routes = {
            "/api/chat": standin._chat,
            "/api/embed": standin._embed,
            "/api/show": standin._show,
            "/api/create": standin._create,
        }
        if self.path in routes:
            self._send(*routes[self.path](body))
        else:
            self._send(404, {"error": "not found"})


def _field(reader: Any, key: str) -> Any:
    value = reader.fields[key]
    data = value.parts[value.data[0]]
    if value.types and value.types[0].name == "STRING":
        return bytes(data).decode()
    return data[0]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
