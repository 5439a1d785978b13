"""The standalone fake router (benchmarks, manual trials) reads every JSON-able World field."""

from __future__ import annotations

import json
import re
import socket
import struct
from pathlib import Path

import pytest

from tests.fakes.hub import FakeHub
from tests.fakes.router import FakeRouter, World, listing, world_from_file


def test_a_world_file_sets_every_field_it_names(tmp_path: Path) -> None:
    spec = {
        "listing": listing({"org/m": ["groq"]}),
        "listing_status": 503,
        "listing_trickle": 0.01,
        "listing_fails": 2,
        "behaviours": {"groq": {"kind": "status", "status": 429}},
        "default": {"kind": "ok", "delay": 0.1},
        "catalog": {"object": "list", "data": []},
        "catalog_status": 500,
        "catalog_hang": 2.0,
    }
    path = tmp_path / "world.json"
    path.write_text(json.dumps(spec))
    assert world_from_file(path) == World(**spec)


def test_a_world_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"listin": {}}))
    with pytest.raises(ValueError, match="listin"):
        world_from_file(path)


def _hang_up_with_a_reset(url: str, path: str) -> None:
    """A client that reads a whole answer and closes with a TCP reset, as `requests` does when
    it closes a response whose body is still unread in its socket: the fake, back reading the
    next request, meets the reset."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, body = received.split(b"\r\n\r\n", 1)
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        assert head.startswith(b"HTTP/1.") and length is not None
        while len(body) < int(length[1]):
            body += sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_that_hangs_up_leaves_the_fakes_silent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI runs in-process with stderr captured, so a fake that printed a traceback when
    the tool hung up early (a 500 whose body it never reads) would break the test reading the
    tool's stderr: the cause of a CI failure, one run in many."""
    with FakeRouter(World(listing_status=500)) as router, FakeHub() as hub:
        for url, path in ((router.url, "/models-json"), (hub.url, "/api/whoami-v2")):
            _hang_up_with_a_reset(url, path)
        assert router.hangups.wait(30) and hub.hangups.wait(30)
    assert capsys.readouterr().err == ""
