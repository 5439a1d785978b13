"""Hostile input, generated: the listing parser and the row builder never raise and always
produce well-formed results, whatever the listing or the provider sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_tracker.csvfile import decode_rows, encode_rows
from inference_tracker.discovery import ListingError, Pair, live_pairs, parse_page
from inference_tracker.record import COLUMNS, ERROR_CLASSES, Call, Outcome, Scrubber, build_row
from tests.helpers import quiet_log

TOKEN = "hf_" + "Pr0p" * 9
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
provider_entries = st.fixed_dictionaries(
    {},
    optional={
        "provider": st.text(max_size=12) | json_values,
        "name": st.text(max_size=12),
        "providerId": st.text(max_size=20) | json_values,
        "providerStatus": st.sampled_from(["live", "staging", "error"]) | json_values,
        "modelStatus": st.sampled_from(["live", "staging", "error"]) | json_values,
        "features": json_values,
    },
)
model_entries = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=20) | json_values,
        "availableInferenceProviders": st.lists(provider_entries | json_values, max_size=5)
        | json_values,
    },
)


@FAST
@given(st.lists(model_entries | json_values, max_size=8), st.integers(min_value=1, max_value=10))
def test_live_pairs_never_raise(models: list[Any], n: int) -> None:
    log, _ = quiet_log("error")
    pairs = live_pairs(models, n, log)
    assert all(isinstance(t, Pair) for t in pairs)
    assert all(t.model_id and t.provider_name and t.provider_model_id for t in pairs)
    assert len({t.model_id for t in pairs}) <= n


@FAST
@given(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values))
def test_parse_page_raises_only_listing_errors(payload: bytes) -> None:
    try:
        page = parse_page(payload, "fuzz")
    except ListingError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(page.models, list)


bodies = (
    st.binary(max_size=300)
    | st.builds(lambda v: json.dumps(v).encode(), json_values)
    | st.builds(
        lambda content, usage: json.dumps(
            {
                "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
                "usage": usage,
            }
        ).encode(),
        st.text(max_size=60) | json_values,
        json_values,
    )
)
header_maps = st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
    st.text(max_size=40),
    max_size=5,
)


@FAST
@given(
    error_class=st.sampled_from(ERROR_CLASSES),
    status=st.integers(min_value=-1, max_value=599),
    body=bodies,
    cut=st.integers(min_value=0, max_value=10**7),
    headers=st.none() | header_maps,
    message=st.text(max_size=600),
    echo=st.booleans(),
)
def test_rows_are_always_well_formed(
    error_class: str,
    status: int,
    body: bytes,
    cut: int,
    headers: dict[str, str] | None,
    message: str,
    echo: bool,
) -> None:
    if echo:
        body = body + f" Bearer {TOKEN} ".encode()
        headers = {**(headers or {}), "x-echo": TOKEN}
    call = Call(
        "org/m", "groq", "g/m", "https://r.test/x", "{}", {"Content-Type": "application/json"}
    )
    outcome = Outcome(
        error_class=error_class, status=status, body=body, cut_bytes=cut, headers=headers,
        error_message=message, attempts=1, started=datetime(2026, 1, 1, tzinfo=UTC), duration_ms=12.5,
    )  # fmt: skip
    row = build_row(
        datetime(2026, 1, 1, tzinfo=UTC), call, outcome, expected_answer="1771.2", probe_id="p",
        scrub=Scrubber([TOKEN]),
    )  # fmt: skip
    assert list(row) == list(COLUMNS)
    assert all(isinstance(value, str) for value in row.values())
    assert row["error_class"] in ERROR_CLASSES
    assert row["answer_correct"] in ("true", "false", "")
    assert TOKEN not in "".join(row.values())
    read = decode_rows(encode_rows([row], header=True), "x")
    assert read.problems == []
    assert read.rows == [row]
