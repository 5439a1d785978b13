"""A fake router.huggingface.co (and models-json listing) on 127.0.0.1.

Each (provider, provider model id) pair can be told how to behave: answer after a latency (or
once `gather` calls are in flight at once),
fail with a status, hang, trickle bytes, never send headers, drop the connection, echo the
Authorization header back, send a huge or non-UTF-8 body, or fail N times then answer.

In a test:   with FakeRouter(world) as router: ... router.url ...
Standalone:  python -m tests.fakes.router --world world.json [--port 0]   (prints the URL)
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.fakes.server import FakeServer

ANSWER = "123/2 = 61.5; 61.5*3.2 = 196.8; 196.8*9 = **1771.2**"


def completion(content: str | None = ANSWER, *, model: str = "m", usage: bool = True) -> bytes:
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1765840585,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 20, "completion_tokens": 42, "total_tokens": 62}
    return json.dumps(body).encode()


def _words(text: str) -> list[str]:
    """The answer in token-like pieces: words with their following space."""
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]]


def catalog(entries: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """A /v1/models answer: {(model id, provider): provider entry fields beyond its name}."""
    models: dict[str, list[dict[str, Any]]] = {}
    for (model_id, provider), fields in entries.items():
        models.setdefault(model_id, []).append({"provider": provider, **fields})
    data = [
        {"id": model_id, "object": "model", "created": 1765840585, "owned_by": model_id.split("/")[0],
         "providers": providers}
        for model_id, providers in models.items()
    ]  # fmt: skip
    return {"object": "list", "data": data}


def listing(pairs: dict[str, list[str]], *, extra_status: str = "live") -> dict[str, Any]:
    """A models-json page: {model_id: [provider, ...]}; providerId is '<provider>/<model>'."""
    models = []
    for model_id, providers in pairs.items():
        entries = [
            {
                "provider": provider,
                "providerStatus": "live",
                "modelStatus": extra_status,
                "providerId": f"{provider}/{model_id.split('/')[-1].lower()}",
                "task": "conversational",
            }
            for provider in providers
        ]
        models.append({"id": model_id, "availableInferenceProviders": entries})
    return {"models": models, "numItemsPerPage": 30, "numTotalItems": len(models), "pageIndex": 0}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    client_port: int = 0  # one port per connection: a kept connection shows as the same port


@dataclass
class World:
    listing: Any = field(default_factory=lambda: listing({}))
    listing_status: int = 200
    listing_raw: bytes | None = None  # served as-is instead of `listing` when set
    listing_trickle: float = 0.0  # seconds between bytes of the listing, when set
    listing_fails: int = 0  # the first this many listing requests answer HTTP 503
    behaviours: dict[str, dict[str, Any]] = field(default_factory=dict)
    default: dict[str, Any] = field(default_factory=lambda: {"kind": "ok"})
    catalog: Any = None  # the /v1/models answer (a JSON value); None: 404
    catalog_raw: bytes | None = None  # served as-is instead of `catalog` when set
    catalog_status: int = 200
    catalog_hang: float = 0.0  # seconds to hold the catalog's answer


JSON_FIELDS = (
    "listing", "listing_status", "listing_trickle", "listing_fails", "behaviours", "default", "catalog",
    "catalog_status", "catalog_hang",
)  # fmt: skip


def world_from_file(path: Path) -> World:
    """A world from JSON: an object with any of JSON_FIELDS (a misspelt key is refused)."""
    spec = json.loads(path.read_text())
    unknown = sorted(set(spec) - set(JSON_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; known: {', '.join(JSON_FIELDS)}")
    return World(**spec)


class FakeRouter:
    def __init__(self, world: World | None = None, port: int = 0) -> None:
        self.world = world or World()
        self.seen: list[Seen] = []
        self.calls: dict[str, int] = {}
        self.closing = threading.Event()
        self.in_flight = 0
        self.peak = 0  # the most calls in flight at once
        self.catalog_requests = 0
        self.stream_timings: list[dict[str, float | None]] = []  # per stream, server-side
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = FakeServer(("127.0.0.1", port), _handler_for(self))
        self.hangups = self._server.hangups
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def listing_url(self) -> str:
        return f"{self.url}/models-json?inference_provider=all&pipeline_tag=text-generation"

    def __enter__(self) -> FakeRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def behaviour(self, provider: str, model: str) -> dict[str, Any]:
        world = self.world
        return world.behaviours.get(f"{provider}|{model}") or world.behaviours.get(
            provider, world.default
        )

    def count(self, key: str) -> int:
        with self._lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            return self.calls[key]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def enter(self) -> None:
        with self._arrived:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self._arrived.notify_all()

    def leave(self) -> None:
        with self._arrived:
            self.in_flight -= 1

    def gather(self, count: int, timeout: float = 30.0) -> None:
        """Hold a call until `count` calls are in flight at once (or `timeout` passed): proves
        concurrency by what arrived, not by how long it took."""
        with self._arrived:
            self._arrived.wait_for(lambda: self.peak >= count, timeout)


def _handler_for(router: FakeRouter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/v1/models"):
                self._catalog()
                return
            if not self.path.startswith("/models-json"):
                self._send(404, b'{"error":"not found"}')
                return
            world = router.world
            if router.count("listing") <= world.listing_fails:
                self._send(503, b'{"error":"Service Unavailable"}')
                return
            raw = world.listing_raw
            if raw is None:
                raw = json.dumps(world.listing).encode()
            if world.listing_trickle:
                self._trickle(world.listing_trickle, len(raw))
                return
            ctype = "text/html" if raw.lstrip()[:1] == b"<" else "application/json"
            self._send(world.listing_status, raw, ctype)

        def _catalog(self) -> None:
            world = router.world
            router.catalog_requests += 1
            if world.catalog_hang and router.closing.wait(world.catalog_hang):
                return
            if world.catalog_raw is not None:
                self._send(world.catalog_status, world.catalog_raw)
            elif world.catalog is None:
                self._send(404, b'{"error":"Not Found"}')
            else:
                self._send(world.catalog_status, json.dumps(world.catalog).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            self.received = time.monotonic()
            try:
                self.streaming = json.loads(body).get("stream") is True
            except (ValueError, AttributeError):
                self.streaming = False
            router.record(
                Seen(self.path, dict(self.headers), body, time.monotonic(), self.client_address[1])
            )
            try:
                model = str(json.loads(body).get("model", ""))
            except ValueError:
                model = ""
            provider = self.path.strip("/").split("/")[0]
            if self.path == "/v1/chat/completions" and ":" in model:
                model, provider = model.rsplit(":", 1)
            router.enter()
            try:
                self._behave(router.behaviour(provider, model), provider, model)
            finally:
                router.leave()

        def _behave(self, how: dict[str, Any], provider: str, model: str) -> None:
            kind = how.get("kind", "ok")
            if "gather" in how:
                router.gather(int(how["gather"]))
            time.sleep(float(how.get("latency", 0)))
            if kind == "flaky":
                if router.count(f"{provider}|{model}") <= int(how.get("fail_times", 1)):
                    self._send(int(how.get("status", 503)), b'{"error":"warming up"}')
                    return
                kind = how.get("then", "ok")
            if kind == "ok" and self.streaming and not how.get("ignore_stream"):
                self._stream(how, model)
            elif kind == "ok":
                body = completion(how.get("answer", ANSWER), model=model)
                self._send(200, body, extra=how.get("headers"))
            elif kind == "status":
                body = how.get("body", '{"error":"provider error"}')
                self._send(int(how["status"]), body.encode(), how.get("ctype", "application/json"))
            elif kind == "raw":
                self._send(int(how.get("status", 200)), how["body"].encode("latin-1"))
            elif kind == "big":
                size = int(how.get("size", 5_000_000))
                self._send(200, b'{"pad":"' + b"x" * size + b'"}')
            elif kind == "invalid_utf8":
                self._send(200, b'{"choices":[{"message":{"content":"\xff\xfe 1771.2 \xc3"}}]}')
            elif kind == "echo" and self.streaming:
                auth = self.headers.get("Authorization", "")
                echoed = {"X-Echo-Authorization": auth}
                self._stream(
                    {**how, "answer": f"you sent {auth}; answer 1771.2", "headers": echoed}, model
                )
            elif kind == "echo":
                auth = self.headers.get("Authorization", "")
                content = f"you sent {auth}; answer 1771.2"
                self._send(
                    200, completion(content, model=model), extra={"X-Echo-Authorization": auth}
                )
            elif kind in ("hang", "no_headers"):
                router.closing.wait(float(how.get("for", 3600)))
            elif kind == "trickle":
                self._trickle(float(how.get("interval", 1.0)), int(how.get("bytes", 3600)))
            elif kind == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                raise ValueError(f"unknown behaviour {kind}")

        def _stream(self, how: dict[str, Any], model: str) -> None:
            """Server-sent events as OpenAI-compatible providers send them, in chunked
            transfer encoding. `how` shapes it: tokens (a list) or answer (split in words),
            reasoning (a list sent first, under reasoning_key), ttft and interval (seconds),
            usage "chunk" | "last" | "none", keepalive, split (bytes per write), crlf,
            error_after (tokens), stall_after (tokens), cut_after (tokens: then half an event
            and the body's end), done, finish, hold_after_done (seconds the connection stays
            open after [DONE])."""
            tokens = how.get("tokens") or _words(how.get("answer", ANSWER))
            reasoning = list(how.get("reasoning", []))
            newline = "\r\n" if how.get("crlf") else "\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            for name, value in (how.get("headers") or {}).items():
                self.send_header(name, value)
            self.end_headers()
            timing = {"received": self.received, "first": None, "last": None}
            router.stream_timings.append(timing)

            def event(text: str, *, ended: bool = True) -> bool:
                data = (f"{text}{newline}{newline}" if ended else text).encode()
                step = int(how.get("split", 0)) or len(data)
                try:
                    for start in range(0, len(data), step):
                        piece = data[start : start + step]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                except OSError:
                    return False
                return True

            def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> str:
                body = {
                    "id": "cmpl-s",
                    "object": "chat.completion.chunk",
                    "created": 1765840585,
                    "model": model,
                    "usage": usage,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return "data: " + json.dumps(body)

            completion_tokens = int(how.get("completion_tokens", 42))  # as completion() says
            usage: dict[str, Any] = {
                "prompt_tokens": 20,
                "completion_tokens": completion_tokens,
                "total_tokens": 20 + completion_tokens,
            }
            if how.get("reasoning_tokens") is not None:
                usage["completion_tokens_details"] = {"reasoning_tokens": how["reasoning_tokens"]}
            if not event(chunk({"role": "assistant", "content": ""})):
                return
            if router.closing.wait(float(how.get("ttft", 0))):
                return
            key = how.get("reasoning_key", "reasoning_content")
            pieces = [{key: text, "content": None} for text in reasoning]
            pieces += [{"content": text} for text in tokens]
            for number, delta in enumerate(pieces):
                if number and router.closing.wait(float(how.get("interval", 0))):
                    return
                if how.get("keepalive") and not event(": ping"):
                    return
                if number == how.get("error_after"):
                    error = {"error": {"message": "upstream overloaded", "type": "server_error"}}
                    event("data: " + json.dumps(error))
                    return self._end()
                if number == how.get("stall_after"):
                    router.closing.wait(3600)
                    return
                if number == how.get("cut_after"):
                    text = chunk(delta)
                    event(text[: len(text) // 2], ended=False)
                    return self._end()
                if not event(chunk(delta)):
                    return
                now = time.monotonic()
                timing["first"] = timing["first"] or now
                timing["last"] = now
            mode = how.get("usage", "chunk")
            if how.get("finish", True):
                last_usage = usage if mode == "last" else None
                event(chunk({"content": ""}, "stop", last_usage))
            if mode == "chunk":
                body = {
                    "id": "cmpl-s",
                    "object": "chat.completion.chunk",
                    "created": 1765840585,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                event("data: " + json.dumps(body))
            if how.get("done", True):
                event("data: [DONE]")
            if router.closing.wait(float(how.get("hold_after_done", 0))):
                return
            self._end()

        def _end(self) -> None:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass

        def _trickle(self, interval: float, total: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            for _ in range(total):
                if router.closing.wait(interval):
                    return
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return

        def _send(
            self,
            status: int,
            body: bytes,
            ctype: str = "application/json",
            extra: dict[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Inference-Provider", "fake")
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, required=True, help="JSON: listing, behaviours")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with FakeRouter(world_from_file(args.world), args.port) as router:
        print(router.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()
