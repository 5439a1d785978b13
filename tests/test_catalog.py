"""The router's catalog (/v1/models): read leniently, fetched alongside the calls, never
delaying them (issue 14, part 1)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from inference_tracker import USER_AGENT
from inference_tracker.catalog import Background, advertised_for, fetch_catalog, parse_catalog
from inference_tracker.discovery import Pair
from inference_tracker.errors import ListingError
from inference_tracker.logs import EventLog
from inference_tracker.record import Advertised, canonical_value, cost_usd
from tests.fakes.router import FakeRouter, World, catalog
from tests.fakes.slow_server import BEFORE_A_RESTART, LATE, LIMIT, late_trickling_server

FULL = {
    "provider": "novita", "status": "live", "context_length": 163840,
    "pricing": {"input": 0.5, "output": 2.0}, "is_free": False, "supports_tools": True,
    "first_token_latency_ms": 320, "throughput": 55.5, "is_model_author": False,
    "some_new_field": {"x": 1},
}  # fmt: skip


def answer(*providers: dict[str, Any], model: str = "org/m") -> bytes:
    return json.dumps(
        {"object": "list", "data": [{"id": model, "providers": list(providers)}]}
    ).encode()


def test_a_complete_entry() -> None:
    parsed = parse_catalog(answer(FULL), "x")
    assert parsed == {("org/m", "novita"): Advertised("live", 320.0, 55.5, 0.5, 2.0)}


def test_a_status_other_than_live_or_error_is_not_kept_but_the_prices_are() -> None:
    """advertised_status is live, error or empty; a new word (or markup) from the router
    must not reach the rows, nor cost the pair its prices (the spending cap counts them)."""
    weird = {**FULL, "status": "LIVE\n<b>up</b>"}
    parsed = parse_catalog(answer(weird, {**FULL, "provider": "groq", "status": "staging"}), "x")
    assert parsed == {
        ("org/m", "novita"): Advertised("", 320.0, 55.5, 0.5, 2.0),
        ("org/m", "groq"): Advertised("", 320.0, 55.5, 0.5, 2.0),
    }


def test_only_provider_and_status_are_needed_and_malformed_entries_are_skipped() -> None:
    parsed = parse_catalog(
        answer(
            {"provider": "groq", "status": "error"},
            {"provider": "bad"},  # no status
            {"provider": "also", "status": True},
            {"status": "live"},  # no provider
            "not an object",
            {"provider": "odd", "status": "live", "pricing": "cheap", "throughput": "fast",
             "first_token_latency_ms": -3},
        ),
        "x",
    )  # fmt: skip
    assert parsed == {
        ("org/m", "groq"): Advertised("error"),
        ("org/m", "odd"): Advertised("live"),
    }


@pytest.mark.parametrize(
    "payload", [b"<html>", b"[]", b'{"data": "x"}', b'{"object": "list"}', b"{", b""]
)
def test_what_is_not_a_catalog_is_a_listing_error(payload: bytes) -> None:
    with pytest.raises(ListingError, match="router catalog"):
        parse_catalog(payload, "x")


def test_models_of_another_shape_are_skipped() -> None:
    body = json.dumps({"data": [{"id": 3, "providers": []}, {"id": "a/b", "providers": "x"}, 7]})
    assert parse_catalog(body.encode(), "x") == {}


def test_the_catalog_wins_and_the_listing_fills_its_gaps() -> None:
    pair = Pair("org/m", "novita", "n/m", tokens_per_s=20.0, price_output_per_m=3.0)
    full = {("org/m", "novita"): Advertised("live", 300.0, 50.0, 0.5, 2.0)}
    assert advertised_for(pair, full) == Advertised("live", 300.0, 50.0, 0.5, 2.0)
    assert advertised_for(pair, {}) == Advertised(None, None, 20.0, None, 3.0)


@pytest.mark.parametrize(
    ("prompt", "completion", "advertised", "expected"),
    [
        (20, 42, Advertised(price_input_per_m=0.5, price_output_per_m=2.0), 0.000094),
        (20, 0, Advertised(price_input_per_m=1.0, price_output_per_m=1.0), 0.00002),
        (None, 42, Advertised(price_input_per_m=0.5, price_output_per_m=2.0), None),
        (20, None, Advertised(price_input_per_m=0.5, price_output_per_m=2.0), None),
        (20, 42, Advertised(price_output_per_m=2.0), None),  # no input price
        (20, 42, Advertised(), None),
    ],
)
def test_cost(
    prompt: int | None, completion: int | None, advertised: Advertised, expected: float | None
) -> None:
    got = cost_usd(prompt, completion, advertised)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_a_cost_carries_no_float_noise_into_the_rows() -> None:
    """123 x 0.15 + 456 x 0.6 is 292.04999999999995 in floats: the row must say 0.00029205,
    not 0.00029204999999999997 (12 decimals of a dollar are kept)."""
    cost = cost_usd(123, 456, Advertised("live", price_input_per_m=0.15, price_output_per_m=0.6))
    assert cost == 0.00029205
    assert canonical_value("float64", repr(cost)) == "0.00029205"


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    with FakeRouter(World(catalog=catalog({("org/m", "novita"): {"status": "live"}}))) as fake:
        yield fake


def test_fetch_over_http(router: FakeRouter) -> None:
    got = fetch_catalog(requests.Session(), router.url, USER_AGENT)
    assert got == {("org/m", "novita"): Advertised("live")}


@pytest.mark.parametrize(
    ("world", "message"),
    [
        ({"catalog_status": 500}, "router catalog answered HTTP 500"),
        ({"catalog": None}, "router catalog answered HTTP 404"),
        ({"catalog_raw": b"<html>oops</html>"}, "is not valid JSON"),
        ({"catalog_raw": b'{"data": 5}'}, "has no 'data' list"),
    ],
)
def test_fetch_failures_are_listing_errors(
    router: FakeRouter, world: dict[str, Any], message: str
) -> None:
    for name, value in world.items():
        setattr(router.world, name, value)
    with pytest.raises(ListingError, match=message):
        fetch_catalog(requests.Session(), router.url, USER_AGENT)


def test_a_late_trickling_catalog_fails_within_its_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("inference_tracker.catalog.CATALOG_TIMEOUT_SECONDS", LIMIT)
    with late_trickling_server(late=LATE) as base:
        began = time.monotonic()
        with pytest.raises(ListingError, match=r"^router catalog from .* did not arrive whole"):
            fetch_catalog(requests.Session(), base, USER_AGENT)
        took = time.monotonic() - began
    assert took < BEFORE_A_RESTART


def test_a_catalog_not_in_when_the_calls_are_done_is_not_waited_for() -> None:
    stream = io.StringIO()
    log = EventLog(stream, "debug", as_json=True)
    release = __import__("threading").Event()

    def slow() -> dict[tuple[str, str], Advertised]:
        release.wait(60)
        return {("a", "b"): Advertised("live")}

    background = Background(slow, log)
    began = time.monotonic()
    assert background.take(grace=0.1) == {}
    assert time.monotonic() - began < 30  # did not wait the 60 s
    release.set()
    [warning] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert warning["event"] == "catalog_missing"


def test_a_failed_catalog_is_a_warning_and_an_empty_catalog() -> None:
    stream = io.StringIO()
    log = EventLog(stream, "debug", as_json=True)

    def failing() -> dict[tuple[str, str], Advertised]:
        raise ListingError("router catalog answered HTTP 502: x")

    background = Background(failing, log)
    background._thread.join(30)
    assert background.take() == {}
    assert "HTTP 502" in stream.getvalue()
