"""The HTTP server under every fake: threaded, and silent when a client hangs up.

The CLI runs in-process in most tests, with stderr captured to check what the tool printed.
socketserver prints a traceback to stderr for any error in a handler, and the tool hangs up
early by design (it closes a 500 without reading its body, and a stream at its deadline), so a
fake that printed would put noise in the tool's stderr, one run in many. A hang-up is counted;
any other error still reaches the real stderr, outside the tool's captured stream."""

from __future__ import annotations

import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.hangups = threading.Event()  # set once a client has hung up mid-exchange

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.hangups.set()
            return
        traceback.print_exc(file=sys.__stderr__)
