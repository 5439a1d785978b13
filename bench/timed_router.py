"""tests/fakes/router.py, run standalone for the benchmarks, with two additions.

- A listen backlog of 1024 instead of socketserver's 5: 64 connects arriving at once would
  otherwise overflow it and some would wait for a SYN retransmit (1 s), a cost of the fake,
  not of the tracker or the real router.
- TCP_NODELAY on every connection. http.server writes the headers and the body in two sends;
  with Nagle's algorithm on, the body waits for the client's delayed ACK of the headers, which
  adds 40 ms to every call on Linux (measured: 44 ms per call at latency 0). A fault of the fake.
- Each POST's arrival (request read) and answer (response written) times, wall clock, served
  as JSON at GET /_bench/timings: the server's view of every call, to check the tracker's.
  For a streamed answer the record also holds the fake's own stream timings (monotonic, so
  only differences between them mean something): `received` (request read), `first` and
  `last` (first and last token chunk written), and `arrived_mono`, the monotonic time of
  `arrived`, to place them on the wall clock. The fake keeps them in `stream_timings`
  without saying which request each belongs to; they are matched here by the handler's
  `received` (the same float object).
- A count of the connections it accepted and of those the client reset (GET /_bench/stats):
  how often the tracker reused a pooled connection. A reset (the client closed with bytes of
  the answer unread) is counted, not printed as a traceback.

Usage: python bench/timed_router.py --world world.json   (prints the URL, serves until killed)
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.router import FakeRouter, world_from_file


def timed(router: FakeRouter, timings: list[dict[str, Any]]) -> None:
    """Wrap the router's request handler so it records when each call came and went."""
    server: ThreadingHTTPServer = router._server  # a bench-only wrapper of the test fake
    base: Any = server.RequestHandlerClass  # the fake's handler class, built at run time
    lock = threading.Lock()
    stats = {"connections": 0, "resets": 0}

    class Timed(base):  # type: ignore[misc]
        rfile: Any  # the connection's stream, swapped for the body while the fake reads it

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with lock:
                stats["connections"] += 1

        def do_GET(self) -> None:
            if self.path not in ("/_bench/timings", "/_bench/stats"):
                super().do_GET()
                return
            with lock:
                body = json.dumps(timings if self.path == "/_bench/timings" else stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            arrived, arrived_mono = time.time(), time.monotonic()
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            connection_stream = self.rfile
            self.rfile = io.BytesIO(body)  # the fake reads the body again
            try:
                super().do_POST()
            finally:
                self.rfile = connection_stream
            answered = time.time()
            try:
                model = str(json.loads(body).get("model", ""))
            except ValueError:
                model = ""
            record: dict[str, Any] = {
                "path": self.path,
                "model": model,
                "arrived": arrived,
                "answered": answered,
            }
            stream = _stream_timing(router, getattr(self, "received", None))
            if stream is not None:
                record.update(stream, arrived_mono=arrived_mono)
            with lock:
                timings.append(record)

    server.RequestHandlerClass = Timed
    report = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            with lock:
                stats["resets"] += 1
            return
        report(request, client_address)

    server.handle_error = handle_error  # type: ignore[method-assign]


def _stream_timing(router: FakeRouter, received: object) -> dict[str, Any] | None:
    """The fake's stream timing of the request it read at `received`, if it streamed."""
    if received is None:
        return None
    for timing in reversed(router.stream_timings):  # the newest first: it was just added
        if timing["received"] is received:
            return dict(timing)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", type=Path, required=True, help="JSON: listing, behaviours")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 1024
    router = FakeRouter(world_from_file(args.world), args.port)
    timings: list[dict[str, Any]] = []
    timed(router, timings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with router:
        print(router.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
