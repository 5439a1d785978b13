"""Helpers for tests that push to the fake Hub.

- `fake_pauses`: the CLI's clock with a retry pause that only records the delay, so retried
  Hub requests cost nothing and the delays can be checked.
- `dataset_rows`: every row of every CSV in a fake Hub dataset, as the viewer would read them.
- `todays_dataset`, `todays_card`: a dataset as the 21-column version left it (its shards and
  its card without features), to upgrade.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from inference_tracker.clock import Clock
from inference_tracker.record import COLUMNS, ROW_KEY, Row
from tests.fakes.hub import FakeHub

REPO = "me/inference-metrics"
HUB_TOKEN = "hf_" + "FakeHubWrite" * 3
READ_TOKEN = "hf_" + "FakeHubRead0" * 3
INFERENCE_TOKEN = "hf_" + "FakeInference" * 3


def fake_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The CLI's retry pauses recorded instead of waited; returns the list of delays."""
    from inference_tracker import cli

    pauses: list[float] = []
    monkeypatch.setattr(cli, "CLOCK", Clock(sleep=pauses.append))
    return pauses


def parse_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return (records[0] if records else []), records[1:]


def dataset_rows(hub: FakeHub, repo: str = REPO) -> list[Row]:
    """Rows of every .csv file in the dataset; each file must have our header, once, on top."""
    rows: list[Row] = []
    for path, data in sorted(hub.files(repo).items()):
        if not path.endswith(".csv"):
            continue
        header, records = parse_csv(data)
        assert tuple(header) == COLUMNS, f"{path}: unexpected header"
        for record in records:
            assert tuple(record) != COLUMNS, f"{path}: header repeated"
            assert len(record) == len(COLUMNS), f"{path}: ragged row"
            rows.append(dict(zip(COLUMNS, record, strict=True)))
    return rows


def keys(rows: list[Row]) -> list[tuple[str, ...]]:
    return [tuple(row[name] for name in ROW_KEY) for row in rows]


def assert_each_once(rows: list[Row], expected: list[Row]) -> None:
    """The dataset holds exactly the expected rows, none twice, none missing, none changed."""
    got = keys(rows)
    assert len(got) == len(set(got)), "a row landed twice"
    assert sorted(got) == sorted(keys(expected))
    by_key = {tuple(r[n] for n in ROW_KEY): r for r in expected}
    for row in rows:
        assert row == by_key[tuple(row[n] for n in ROW_KEY)]


# --- a dataset as the 21-column version wrote it ----------------------------------------------

_TODAYS_NOTES = {
    "cycle_timestamp_iso": "start of the cycle (UTC, ms); every row of a cycle shares it",
    "model_id": "the Hub model measured",
    "provider_name": "the inference provider that served it",
    "provider_model_id": "the provider's own id for the model",
    "request_url": "the router URL called",
    "request_body": "the JSON body sent",
    "request_headers_sanitized": "request headers (JSON), Authorization masked",
    "request_start_iso": "when the final attempt was sent",
    "response_end_iso": "when its whole body was read",
    "duration_ms": "final attempt, monotonic clock; retries and waits excluded",
    "response_status_code": "HTTP status, or -1 when no response came",
    "response_body_raw": "the body (cut with a marker when over the size cap)",
    "response_headers_sanitized": "response headers (JSON), credentials masked",
    "error_message": "short reason when the call failed",
    "attempts": "tries made (1 = no retry)",
    "error_class": "ok, http_error, timeout, connection_error, invalid_response, deadline"
    " or unmapped_provider",
    "prompt_tokens": "from the response's usage, when given",
    "completion_tokens": "from the response's usage, when given",
    "finish_reason": "from the response, when given",
    "answer_correct": "true when the answer holds the expected number, false when not;"
    " empty without an answer",
    "probe_id": "the machine that measured",
}


def todays_card(template: str) -> str:
    """The README.md the 21-column version wrote (dataset.dataset_card before issue 12): its
    `configs`, no features."""
    glob = re.sub(r"\{[a-z_]+\}", "*", template)
    columns = "\n".join(f"| `{name}` | {note} |" for name, note in _TODAYS_NOTES.items())
    return f"""---
pretty_name: Inference Providers measurements
tags:
- inference-providers
- monitoring
configs:
- config_name: default
  data_files:
  - split: train
    path: "{glob}"
---

# Inference Providers measurements

Rows written by inference-tracker. Every few
minutes a probe takes the trending text-generation models that have live inference providers,
sends the same chat-completion request to every (model, live provider) pair through
`router.huggingface.co`, and records one row per pair: timing, status, the answer and whether it
holds the expected number. Failed calls are rows too (`error_class`). Tokens never reach the data:
credentials are masked and anything shaped like a Hugging Face token is `[REDACTED]`.

Each push adds one CSV file per batch of cycles at `{template}` (a push repeated after a crash
rewrites the same file byte for byte, so no row is ever added twice), and
the `configs` above make the viewer read all of them as one table. CSV is UTF-8, RFC 4180 quoting
(bodies hold commas, quotes and new lines), header first.

| column | meaning |
|---|---|
{columns}
"""


def todays_dataset(
    hub: FakeHub,
    batches: list[list[Row]],
    template: str = "data/{date}/{probe_id}-{batch_id}.csv",
    probe_id: str = "old-probe",
    repo: str = REPO,
) -> dict[str, bytes]:
    """Commit a dataset as the 21-column version left it: one shard per batch (21 columns,
    named as its store named batches) and its card. Returns the shards by path."""
    from inference_tracker.store import batch_id_for
    from tests.rows import old_layout

    shards: dict[str, bytes] = {}
    for rows in batches:
        data = old_layout(rows, 21)
        first = min(row["cycle_timestamp_iso"] for row in rows)
        path = template.format(
            date=first[:10], probe_id=probe_id, batch_id=batch_id_for(rows, data)
        )
        shards[path] = data
    hub.commit_files(repo, {**shards, "README.md": todays_card(template).encode()}, "21 columns")
    return shards
