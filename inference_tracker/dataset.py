"""What the dataset holds: the card that makes the viewer read every shard as one table, and
the append-mode merge that adds rows under an existing file without repeating any.

Pure functions of bytes and rows; publish.py does the talking to the Hub.
"""

from __future__ import annotations

import re

from inference_tracker.csvfile import encode_rows, rows_in_our_layout
from inference_tracker.record import COLUMNS, ROW_KEY, Row


class LayoutError(Exception):
    """The file on the Hub has other columns than ours. One-line message."""


def merge_csv(existing: bytes | None, rows: list[Row], path: str) -> tuple[bytes, int, int]:
    """`rows` added under `existing`, skipping rows already there. Returns (file, added, skipped).

    A file in the original tool's layout (our first 14 columns) is rewritten with the full
    header and its rows padded, so nothing earlier is lost and the table stays one table.
    """
    old: list[Row] = []
    whole_header = True
    if existing and existing.strip():
        layout = rows_in_our_layout(existing)
        if layout is None:
            first = existing.split(b"\n", 1)[0].decode("utf-8", errors="replace")[:60]
            raise LayoutError(
                f"{path} on the Hub has other columns (starting {first!r});"
                " point HF_DATASET_TARGET_FILENAME at a new file"
            )
        whole_header, old = layout
    seen = {_key(row) for row in old}
    fresh = []
    for row in rows:
        if _key(row) not in seen:
            seen.add(_key(row))
            fresh.append(row)
    skipped = len(rows) - len(fresh)
    if not existing or not existing.strip() or not whole_header:
        return encode_rows(old + fresh, header=True), len(fresh), skipped
    if not fresh:
        return existing, 0, skipped
    glue = b"" if existing.endswith((b"\n", b"\r")) else b"\r\n"
    return existing + glue + encode_rows(fresh, header=False), len(fresh), skipped


def _key(row: Row) -> tuple[str, ...]:
    return tuple(row.get(name, "") for name in ROW_KEY)


_COLUMN_NOTES = {
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


def dataset_card(template: str) -> str:
    """README.md for the dataset: YAML configs that read every shard as one table, the schema."""
    glob = re.sub(r"\{[a-z_]+\}", "*", template)
    columns = "\n".join(f"| `{name}` | {_COLUMN_NOTES.get(name, '')} |" for name in COLUMNS)
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
