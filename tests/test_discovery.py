from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from inference_tracker import USER_AGENT
from inference_tracker.clock import Clock
from inference_tracker.discovery import (
    ListingError,
    Pair,
    fetch_models,
    live_pairs,
    page_url,
    parse_page,
    read_models_file,
)
from inference_tracker.errors import ConfigError
from tests.fakes.slow_server import BEFORE_A_RESTART, LATE, LIMIT, late_trickling_server
from tests.helpers import quiet_log

URL = "https://hub.test/models-json?inference_provider=all&pipeline_tag=text-generation"
FAR = 1e12  # a deadline that never comes


def provider(
    name: str, pid: str, status: str = "live", model_status: str = "live", **extra: Any
) -> dict[str, Any]:
    return {
        "provider": name,
        "providerId": pid,
        "providerStatus": status,
        "modelStatus": model_status,
        **extra,
    }


def test_parse_valid_page() -> None:
    page = parse_page(json.dumps({"models": [{"id": "a/b"}], "numTotalItems": 611}), "x")
    assert page.models == [{"id": "a/b"}]
    assert page.total == 611


def test_empty_models_is_fine() -> None:
    assert parse_page(b'{"models": []}', "x").models == []


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"<!doctype html><html>rate limited</html>", "is HTML, not JSON"),
        (b'{"models": [', "is not valid JSON"),
        (b'{"items": []}', "has no 'models' key"),
        (b"[1, 2]", "has no 'models' key"),
        (b'{"models": {"id": "x"}}', "'models' is not a list"),
        (b"", "is not valid JSON"),
    ],
)
def test_unusable_pages_are_clear_errors(payload: bytes, message: str) -> None:
    with pytest.raises(ListingError, match=message):
        parse_page(payload, "somewhere")


def test_keeps_only_live_live_providers() -> None:
    log, _ = quiet_log()
    models = [
        {
            "id": "org/m",
            "availableInferenceProviders": [
                provider("novita", "n/m"),
                provider("together", "t/m", model_status="error"),
                provider("groq", "g/m", status="staging"),
                provider("cerebras", "c/m", model_status="staging"),
            ],
        }
    ]
    assert live_pairs(models, 5, log) == [Pair("org/m", "novita", "n/m")]


def test_keeps_the_first_n_models_in_order() -> None:
    log, _ = quiet_log()
    models = [
        {"id": f"org/m{i}", "availableInferenceProviders": [provider("groq", f"g{i}")]}
        for i in range(8)
    ]
    pairs = live_pairs(models, 3, log)
    assert [t.model_id for t in pairs] == ["org/m0", "org/m1", "org/m2"]


def test_accepts_the_original_name_field_and_ignores_extra_fields() -> None:
    log, _ = quiet_log()
    entry = {
        "name": "groq",
        "providerId": "g/m",
        "providerStatus": "live",
        "modelStatus": "live",
        "features": {"toolCalling": True},
        "pricingOutput": 3.38,
    }
    models = [{"id": "org/m", "likes": 3, "availableInferenceProviders": [entry]}]
    assert live_pairs(models, 5, log) == [Pair("org/m", "groq", "g/m", price_output_per_m=3.38)]


@pytest.mark.parametrize("bad", ["fast", None, True, -1, float("nan"), [], {}])
def test_a_mistyped_listing_figure_is_none_and_keeps_the_pair(bad: object) -> None:
    log, _ = quiet_log()
    entry = {"provider": "groq", "providerId": "g/m", "providerStatus": "live",
             "modelStatus": "live", "tokensPerSecond": bad, "pricingOutput": 2}  # fmt: skip
    [pair] = live_pairs([{"id": "org/m", "availableInferenceProviders": [entry]}], 5, log)
    assert (pair.tokens_per_s, pair.price_output_per_m) == (None, 2.0)


def test_models_without_providers_give_no_pairs() -> None:
    log, _ = quiet_log()
    models = [
        {"id": "a/none"},
        {"id": "a/empty", "availableInferenceProviders": []},
        {"id": "a/null", "availableInferenceProviders": None},
    ]
    assert live_pairs(models, 5, log) == []


def test_malformed_entries_are_skipped_with_a_warning() -> None:
    log, stream = quiet_log()
    models = [
        {
            "id": "org/a",
            "availableInferenceProviders": [
                {"providerId": "x", "providerStatus": "live", "modelStatus": "live"},  # no provider
                {
                    "provider": "groq",
                    "providerStatus": "live",
                    "modelStatus": "live",
                },  # no providerId
                provider("novita", 42),  # wrong type
                "not an object",
                provider("together", "t/a"),
            ],
        },
        {"id": 7},  # model id of the wrong type
        "garbage",
        {"id": "org/b", "availableInferenceProviders": "nope"},
    ]
    pairs = live_pairs(models, 5, log)
    assert pairs == [Pair("org/a", "together", "t/a")]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sum(e["event"] == "provider_entry_skipped" for e in events) == 4
    assert sum(e["event"] == "listing_entry_skipped" for e in events) == 3
    assert all(e["level"] == "warning" for e in events)


def test_page_url_adds_the_page_number() -> None:
    assert page_url(URL, 0) == URL
    assert page_url(URL, 2).endswith("&p=2")
    assert page_url(page_url(URL, 1), 2).count("p=") == 1


@responses.activate
def test_fetch_sends_a_user_agent_and_a_timeout() -> None:
    responses.get(URL, json={"models": [{"id": "a/b"}], "numTotalItems": 1})
    models = fetch_models(requests.Session(), URL, 5, USER_AGENT, FAR)
    assert models == [{"id": "a/b"}]
    sent = responses.calls[0].request
    assert sent.headers["User-Agent"].startswith("inference-tracker/")
    assert sent.req_kwargs["timeout"] is not None


@responses.activate
def test_fetch_follows_pages_until_enough_models() -> None:
    first = [{"id": f"a/{i}"} for i in range(30)]
    second = [{"id": f"b/{i}"} for i in range(30)]
    pages = {None: first, "1": second}

    def serve(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        p = parse_qs(urlsplit(str(request.url)).query).get("p", [None])[0]
        return 200, {}, json.dumps({"models": pages[p], "numTotalItems": 611})

    responses.add_callback(responses.GET, URL.split("?")[0], callback=serve)
    models = fetch_models(requests.Session(), URL, 45, USER_AGENT, FAR)
    assert len(models) == 60
    assert len(responses.calls) == 2


@responses.activate
def test_fetch_stops_when_the_listing_runs_out() -> None:
    responses.get(URL, json={"models": [{"id": "a/1"}], "numTotalItems": 1})
    assert len(fetch_models(requests.Session(), URL, 45, USER_AGENT, FAR)) == 1
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"status": 429, "body": "slow down"}, "answered HTTP 429"),
        ({"status": 500, "body": "boom"}, "answered HTTP 500"),
        ({"body": requests.ConnectTimeout("t")}, "did not arrive whole within"),
        ({"body": requests.ConnectionError("refused")}, "unreachable"),
        ({"status": 200, "body": "<html>login</html>"}, "is HTML"),
    ],
)
def test_fetch_failures_are_listing_errors(kwargs: dict[str, Any], message: str) -> None:
    responses.get(URL, **kwargs)
    with pytest.raises(ListingError, match=message):
        fetch_models(requests.Session(), URL, 5, USER_AGENT, FAR)


@pytest.mark.parametrize(("deadline", "page_limit"), [(LIMIT, 30.0), (FAR, LIMIT)])
def test_headers_and_body_share_one_time_limit(
    monkeypatch: pytest.MonkeyPatch, deadline: float, page_limit: float
) -> None:
    """Whichever comes first, the cycle's deadline or the page's own limit, bounds the whole
    fetch: headers LATE seconds in leave the trickling body what is left, not a fresh LIMIT."""
    monkeypatch.setattr("inference_tracker.discovery.LISTING_TIMEOUT_SECONDS", page_limit)
    with late_trickling_server(late=LATE) as base:
        began = time.monotonic()
        with pytest.raises(ListingError, match="did not arrive whole within"):
            fetch_models(requests.Session(), base + "/m", 5, USER_AGENT, began + deadline)
        took = time.monotonic() - began
    assert took < BEFORE_A_RESTART


def test_models_file(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": [{"id": "a/b"}]}))
    assert read_models_file(path) == [{"id": "a/b"}]
    with pytest.raises(ConfigError, match=r"^--models-file .*missing.json: file not found$"):
        read_models_file(tmp_path / "missing.json")
    path.write_text("<html>")
    with pytest.raises(ConfigError, match=r"^--models-file: model listing from .* is HTML"):
        read_models_file(path)


class Pauses:
    """An injected clock whose pauses are recorded and move its time on, never waited."""

    def __init__(self) -> None:
        self.taken: list[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep)


@responses.activate
@pytest.mark.parametrize(
    "first", [{"status": 500, "body": "boom"}, {"body": requests.ConnectionError("reset")}]
)
def test_a_listing_that_fails_once_is_fetched_again(first: dict[str, Any]) -> None:
    """A passing 5xx or a dropped connection must not cost a whole cycle of data: the listing
    is retried like a call (MAX_RETRIES, 1 s then 3 s), and the retry is logged."""
    responses.get(URL, **first)
    responses.get(URL, json={"models": [{"id": "a/b"}], "numTotalItems": 1})
    pauses = Pauses()
    log, stream = quiet_log()
    models = fetch_models(
        requests.Session(), URL, 5, USER_AGENT, FAR, pauses.clock(), retries=2, log=log
    )
    assert models == [{"id": "a/b"}]
    assert len(responses.calls) == 2 and pauses.taken == [1.0]
    [retry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert retry["event"] == "listing_retry" and retry["level"] == "warning"
    assert "answered HTTP 500" in retry["error"] or "unreachable" in retry["error"]


@responses.activate
def test_a_listing_that_keeps_failing_is_tried_max_retries_more_times() -> None:
    responses.get(URL, status=503, body="down")
    pauses = Pauses()
    with pytest.raises(ListingError, match="answered HTTP 503"):
        fetch_models(requests.Session(), URL, 5, USER_AGENT, FAR, pauses.clock(), retries=2)
    assert len(responses.calls) == 3 and pauses.taken == [1.0, 3.0]


@responses.activate
@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 404, "body": "no such page"},
        {"status": 429, "body": "slow down"},
        {"status": 200, "body": "<html>login</html>"},
        {"body": requests.ReadTimeout("t")},
    ],
)
def test_a_refusal_a_bad_page_or_a_timeout_is_not_retried(kwargs: dict[str, Any]) -> None:
    """Never after a 4xx (as for calls); a page that is not a listing will not become one; a
    timeout has spent the listing's time already."""
    responses.get(URL, **kwargs)
    pauses = Pauses()
    with pytest.raises(ListingError):
        fetch_models(requests.Session(), URL, 5, USER_AGENT, FAR, pauses.clock(), retries=2)
    assert len(responses.calls) == 1 and pauses.taken == []


@responses.activate
def test_no_retry_whose_pause_would_reach_the_deadline() -> None:
    responses.get(URL, status=500, body="boom")
    pauses = Pauses()
    with pytest.raises(ListingError, match="answered HTTP 500"):
        fetch_models(
            requests.Session(), URL, 5, USER_AGENT, pauses.now + 0.5, pauses.clock(), retries=2
        )
    assert len(responses.calls) == 1 and pauses.taken == []


@responses.activate
def test_a_stop_during_the_pause_ends_the_retries() -> None:
    """Ctrl-C or SIGTERM while the listing waits to try again: no further try."""
    responses.get(URL, status=500, body="boom")
    stop = threading.Event()
    clock = Clock(sleep=lambda seconds: stop.set())
    with pytest.raises(ListingError, match="answered HTTP 500"):
        fetch_models(requests.Session(), URL, 5, USER_AGENT, FAR, clock, retries=2, stop=stop)
    assert len(responses.calls) == 1
