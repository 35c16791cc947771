"""A small fake OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` (plain or streamed) with whatever a ``play`` function
returns for the request's messages and tools (proctor's scripted player, by default), with
optional latency, and with scripted faults on chosen requests: an HTTP error, a hang longer
than the client's timeout, or a body that is not JSON. Usage is counted deterministically
(characters // 4), so token accounting can be checked. Stdlib only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Play = Callable[[list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]


@dataclass
class Fault:
    """What the server does to one request (by 1-based request number)."""

    kind: Literal["error", "timeout", "garbage"]
    status: int = 500
    delay: float = 30.0


def _tokens(value: Any) -> int:
    return max(1, len(json.dumps(value)) // 4)


class FakeOpenAI:
    """The server; use as a context manager, or start() and stop()."""

    def __init__(
        self,
        play: Play | None = None,
        latency: float = 0.0,
        faults: dict[int, Fault] | None = None,
        model: str = "fake-model",
    ) -> None:
        if play is None:
            from proctor.models.player import play as scripted

            play = scripted
        self.play, self.latency, self.faults, self.model = play, latency, faults or {}, model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._count = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def n_requests(self) -> int:
        with self._lock:
            return self._count

    def _next(self, body: dict[str, Any]) -> int:
        with self._lock:
            self._count += 1
            self.requests.append(body)
            return self._count

    def start(self) -> FakeOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                err = {"error": {"message": message, "type": "server_error", "code": status}}
                self._send(status, json.dumps(err).encode())

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = {"object": "list", "data": [{"id": owner.model, "object": "model"}]}
                    self._send(200, json.dumps(data).encode())
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._error(404, f"no route {self.path}")
                    return
                body = json.loads(raw or b"{}")
                number = owner._next(body)
                if owner.latency:
                    time.sleep(owner.latency)
                fault = owner.faults.get(number)
                if fault is not None and fault.kind == "error":
                    self._error(fault.status, f"scripted fault on request {number}")
                    return
                if fault is not None and fault.kind == "timeout":
                    time.sleep(fault.delay)
                if fault is not None and fault.kind == "garbage":
                    self._send(200, b"<html>this is not json", "application/json")
                    return
                try:
                    message = owner.play(body.get("messages", []), body.get("tools") or [])
                except Exception as err:
                    self._error(500, f"play failed: {type(err).__name__}: {err}")
                    return
                message = {"role": "assistant", "content": message.get("content")} | (
                    {"tool_calls": message["tool_calls"]} if message.get("tool_calls") else {}
                )
                usage = {
                    "prompt_tokens": _tokens(body.get("messages", [])),
                    "completion_tokens": _tokens(message),
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                reply = {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": owner.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
                if body.get("stream"):
                    self._stream(reply)
                else:
                    self._send(200, json.dumps(reply).encode())

            def _stream(self, reply: dict[str, Any]) -> None:
                choice = reply["choices"][0]
                delta = dict(choice["message"])
                if delta.get("tool_calls"):
                    delta["tool_calls"] = [
                        {"index": i, **tc} for i, tc in enumerate(delta["tool_calls"])
                    ]
                chunks = [
                    {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                    {
                        "choices": [
                            {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}
                        ],
                        "usage": reply["usage"],
                    },
                ]
                head = {k: reply[k] for k in ("id", "created", "model")}
                lines = [
                    f"data: {json.dumps(head | {'object': 'chat.completion.chunk'} | c)}\n\n"
                    for c in chunks
                ]
                self._send(200, ("".join(lines) + "data: [DONE]\n\n").encode(), "text/event-stream")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a hung handler never holds up stop()
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
