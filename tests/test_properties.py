"""Hostile input, generated: the listing parser and the row builder never raise and always
produce well-formed results, whatever the listing or the provider sends."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_tracker.csvfile import decode_rows, encode_rows
from inference_tracker.dataset import CardError, card_is_current, merge_card
from inference_tracker.discovery import ListingError, Pair, live_pairs, parse_page
from inference_tracker.record import (
    COLUMNS,
    ERROR_CLASSES,
    Call,
    Outcome,
    Scrubber,
    build_row,
    canonical_value,
)
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


# --- canonical values and the card ----------------------------------------------------------

number_texts = (
    st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.3f}")
    | st.from_regex(r"\s?[-+]?\d{0,25}(\.\d{0,25})?([eE][-+]?\d{1,4})?\s?", fullmatch=True)
    | st.sampled_from(["true", "False", "TRUE", "1.0", "0.0", "-0", "nan", "inf", "1_000"])
    | st.text(max_size=12)
)


@FAST
@given(kind=st.sampled_from(["int64", "float64", "bool"]), value=number_texts)
def test_canonical_values_are_of_their_type_and_a_fixed_point(kind: str, value: str) -> None:
    stored = canonical_value(kind, value)
    assert canonical_value(kind, stored) == stored
    if not stored:
        return
    if kind == "int64":
        assert re.fullmatch(r"-?(0|[1-9]\d*)", stored) and -(2**63) <= int(stored) < 2**63
    elif kind == "float64":
        assert re.fullmatch(r"-?\d+\.\d+", stored) and math.isfinite(float(stored))
        assert float(stored) == float(Decimal(value.strip()))
    else:
        assert stored in ("true", "false")


row_values = st.fixed_dictionaries(
    {name: st.text(max_size=8) | number_texts for name in COLUMNS},
)


@FAST
@given(st.lists(row_values, min_size=1, max_size=3))
def test_encoding_is_a_fixed_point_after_one_pass(rows: list[dict[str, str]]) -> None:
    for row in rows:  # decode_rows keeps rows that look like ours only
        row["cycle_timestamp_iso"] = "2026-11-27T10:00:00.000Z"
        row["error_class"] = "ok"
    once = encode_rows(rows, header=True)
    read = decode_rows(once, "x")
    assert read.problems == [] and len(read.rows) == len(rows)
    assert encode_rows(read.rows, header=True) == once


yaml_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
card_meta = st.dictionaries(
    st.sampled_from(["license", "tags", "configs", "dataset_info", "pretty_name"])
    | st.text(min_size=1, max_size=8),
    yaml_values,
    max_size=5,
)


@FAST
@given(meta=card_meta, body=st.text(max_size=80), with_header=st.booleans())
def test_merging_a_card_is_idempotent_and_keeps_the_owners_text(
    meta: dict[str, Any], body: str, with_header: bool
) -> None:
    import yaml

    text = ("---\n" + yaml.safe_dump(meta) + "---\n" if with_header else "") + body
    try:
        merged = merge_card(text, "data/{date}/{probe_id}-{batch_id}.csv")
    except CardError:
        return  # e.g. a body that itself opens with a YAML header that does not parse
    assert merge_card(merged, "data/{date}/{probe_id}-{batch_id}.csv") == merged
    assert card_is_current(merged)
    if with_header and body.strip():
        assert merged.endswith(body)
