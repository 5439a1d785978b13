"""A server that answers late and then never finishes: for the tests that a fetch's time limit
covers the headers and the body together (the listing, the catalog, a whole collect)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import FakeServer

# Headers LATE seconds in, with a time limit of LIMIT: a fetch that keeps one budget ends near
# LIMIT; one whose budget restarts at the headers cannot end before LATE + LIMIT. Tests assert
# below BEFORE_A_RESTART, which leaves a slow machine 3 s.
LATE = 4.0
LIMIT = 5.0
BEFORE_A_RESTART = LATE + LIMIT - 1.0


@contextmanager
def late_trickling_server(late: float) -> Iterator[str]:
    """The base URL of a server whose every answer sends its headers `late` seconds after the
    request, then its body a byte every 0.1 s for ever: each read is quick, the whole never
    comes. A fetch whose time limit restarts at the headers overruns it by `late`."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if stop.wait(late):
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            while not stop.wait(0.1):
                try:
                    self.wfile.write(b" ")
                except OSError:  # the client gave up
                    return

    server = FakeServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
