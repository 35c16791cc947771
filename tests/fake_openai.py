"""A small fake OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` (plain, or as an SSE stream of
``chat.completion.chunk`` objects when the body asks for ``"stream": true``) with whatever a
``play`` function returns for the request's messages and tools (proctor's scripted player by
default), and ``GET /v1/models``. Options: a latency per request (slept in the handler's own
thread, so concurrent requests overlap) and scripted faults on chosen requests, counted from 1
over the server's life, retries included: an HTTP error, a hang longer than the client's
timeout, or a 200 whose body is not JSON. Usage is counted deterministically (characters of the
JSON // 4, at least 1; see :func:`tokens`), so token accounting can be checked. Stdlib only,
and quiet: nothing is printed.

    def play(messages, tools):
        return {"role": "assistant", "content": "hi"}

    with FakeOpenAI(play, faults={1: Fault("error")}) as server:
        ...  # point a client at server.base_url; server.requests holds what it was sent
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

Play = Callable[[list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]
"""play(messages, tools) -> the assistant message, in OpenAI chat format:
``{"role": "assistant", "content": str | None, "tool_calls": [{"id": str, "type": "function",
"function": {"name": str, "arguments": str (JSON)}}]}`` (``tool_calls`` optional; a missing id
is filled in, and arguments given as a dict are serialized)."""

GARBAGE = b"<html><body>502 Bad Gateway: this is not JSON</body></html>"


@dataclass
class Fault:
    """What the server does to one request (by 1-based request number).

    ``error``: answer HTTP ``status`` with an OpenAI-style error body. ``timeout``: sleep
    ``delay`` seconds, then answer normally (so a client with a shorter timeout gives up).
    ``garbage``: HTTP 200 with a body that is not JSON.
    """

    kind: Literal["error", "timeout", "garbage"]
    status: int = 500
    delay: float = 30.0


def tokens(value: Any) -> int:
    """The fake's token count of a JSON value: characters of its JSON text // 4, at least 1.

    ``prompt_tokens`` is ``tokens(messages)`` of the request; ``completion_tokens`` is
    ``tokens(message)`` of the assistant message answered (as in ``server.responses``).
    """
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
            from proctor.researchers.player import play as scripted

            play = scripted
        self.play, self.latency, self.faults, self.model = play, latency, faults or {}, model
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        """Every chat/completions request body received, in order (retries included)."""
        self.responses: list[dict[str, Any]] = []
        """Every chat.completion answered (streamed ones too, as the completion they add up to)."""
        self.errors: list[BaseException] = []
        """Unexpected exceptions in handler threads (kept, not printed; lost connections aside)."""
        self._lock = threading.Lock()
        self._count = 0
        self._waiting = 0
        self.max_in_flight = 0
        """Most requests ever inside their latency sleep at once (overlap, not timing)."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def n_requests(self) -> int:
        """How many chat/completions requests arrived so far."""
        with self._lock:
            return self._count

    def _arrived(self, body: dict[str, Any]) -> int:
        with self._lock:
            self._count += 1
            self.requests.append(body)
            return self._count

    def _answered(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self.responses.append(reply)

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            return self
        server = _Server(self)
        port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long stop() waits for the loop to notice
            name=f"fake-openai-{port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        self.base_url = f"http://127.0.0.1:{port}/v1"
        try:  # fail here, clearly, rather than in a client's retries
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as err:
            self.stop()
            raise RuntimeError(
                f"cannot connect to 127.0.0.1:{port} ({err}): is the loopback interface up? "
                "(in a fresh network namespace, e.g. `unshare -n`, run `ip link set lo up`)"
            ) from err
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread (handlers still sleeping are abandoned)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler never blocks exit
    block_on_close = False  # ... nor stop()

    def __init__(self, owner: FakeOpenAI) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        err = sys.exc_info()[1]
        if err is not None and not isinstance(err, ConnectionError | TimeoutError):
            self.owner.errors.append(err)  # the client hanging up mid-answer is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        error = {"message": message, "type": kind, "param": None, "code": status}
        self._send(status, json.dumps({"error": error}).encode())

    def do_GET(self) -> None:
        owner = self.server.owner
        if urlsplit(self.path).path.rstrip("/") == "/v1/models":
            entry = {"id": owner.model, "object": "model", "created": 0, "owned_by": "fake"}
            self._send(200, json.dumps({"object": "list", "data": [entry]}).encode())
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route POST {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            owner._arrived({"invalid_body": raw.decode(errors="replace")})
            self._error(400, "request body is not a JSON object")
            return
        number = owner._arrived(body)
        if owner.latency:
            with owner._lock:
                owner._waiting += 1
                owner.max_in_flight = max(owner.max_in_flight, owner._waiting)
            try:
                time.sleep(owner.latency)
            finally:
                with owner._lock:
                    owner._waiting -= 1
        fault = owner.faults.get(number)
        if fault is not None and fault.kind == "error":
            self._error(fault.status, f"scripted fault on request {number}")
            return
        if fault is not None and fault.kind == "garbage":
            self._send(200, GARBAGE)
            return
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
        messages = body.get("messages") or []
        try:
            message = _assistant(owner.play(messages, body.get("tools") or []), number)
        except Exception as err:
            self._error(500, f"play failed: {type(err).__name__}: {err}")
            return
        usage = {"prompt_tokens": tokens(messages), "completion_tokens": tokens(message)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        reply = {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or owner.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                }
            ],
            "usage": usage,
        }
        owner._answered(reply)
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream(_chunks(reply, with_usage))
        else:
            self._send(200, json.dumps(reply).encode())

    def _stream(self, chunks: list[dict[str, Any]]) -> None:
        """Server-sent events, one per chunk then ``[DONE]``, in chunked transfer encoding."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
        for event in events:
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _assistant(message: dict[str, Any], number: int) -> dict[str, Any]:
    """The play's answer as a well-formed assistant message."""
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    calls = []
    for i, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id") or f"call_{number}_{i}",
                "type": "function",
                "function": {"name": function["name"], "arguments": arguments},
            }
        )
    if calls:
        out["tool_calls"] = calls
    return out


def _halves(text: str) -> list[str]:
    return [part for part in (text[: len(text) // 2], text[len(text) // 2 :]) if part]


def _chunks(reply: dict[str, Any], with_usage: bool) -> list[dict[str, Any]]:
    """The completion as OpenAI streams it: the role, then content and each tool call's
    arguments in pieces, then the finish reason, then (if asked for) usage with no choices."""
    choice = reply["choices"][0]
    message = choice["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": part} for part in _halves(message.get("content") or "")]
    for i, call in enumerate(message.get("tool_calls") or []):
        name = call["function"]["name"]
        head = {"index": i, "id": call["id"], "type": "function"}
        deltas.append({"tool_calls": [head | {"function": {"name": name, "arguments": ""}}]})
        deltas += [
            {"tool_calls": [{"index": i, "function": {"arguments": part}}]}
            for part in _halves(call["function"]["arguments"])
        ]
    choices = [[{"index": 0, "delta": d, "finish_reason": None}] for d in deltas]
    choices.append([{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}])
    head = {k: reply[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    extra = {"usage": None} if with_usage else {}
    chunks = [head | {"choices": c} | extra for c in choices]
    if with_usage:
        chunks.append(head | {"choices": [], "usage": reply["usage"]})
    return chunks
