"""What the dataset holds: the card that declares every column's type and makes the viewer read
every file as one table, the upgrade of files written with fewer columns, and the append-mode
merge that adds rows under an existing file without repeating any.

Pure functions of text, bytes and rows; publish.py does the talking to the Hub.

The card is built from small parts so that each can change alone:
- the YAML header: ours is `configs` (the default config reads every file of the template)
  and `dataset_info` (the default config's features, from record.COLUMN_TYPES);
  `merge_metadata` puts them into whatever else the owner wrote;
- the body: the owner's prose, kept; sections of ours between two HTML comments
  (`<!-- inference-tracker:NAME:start -->` ... `:end -->`) are refreshed by `set_section`
  (the column table now; a leaderboard can be one more section);
- `merge_card` joins them, and gives the existing text back untouched when nothing of ours
  changed, so a push commits the card only when its bytes change.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from typing import Any

import yaml

from inference_tracker.csvfile import (
    encode_rows,
    layout_width,
    record_count,
    rows_in_our_layout,
)
from inference_tracker.record import COLUMN_TYPES, COLUMNS, ROW_KEY, Row
from inference_tracker.render import plural

CONFIG_NAME = "default"
SPLIT = "train"
HEADER_PEEK = 4096  # bytes of a file enough to hold our header whole (it is about 600)


class LayoutError(Exception):
    """The file on the Hub has other columns than ours. One-line message."""


class CardError(LayoutError):
    """The dataset card on the Hub cannot be merged with ours. One-line message."""


# --- the card's YAML header ------------------------------------------------------------------


def features() -> list[dict[str, str]]:
    """Every column and its type, in the `datasets` YAML form, in column order."""
    return [{"name": name, "dtype": kind} for name, kind in COLUMN_TYPES.items()]


def config_glob(template: str) -> str:
    """The files a filename template makes, as a glob (each placeholder is `*`)."""
    return re.sub(r"\{[a-z_]+\}", "*", template)


def our_metadata(template: str) -> dict[str, Any]:
    """The YAML keys that are ours: the default config reads every file as one table, and
    declares every column's type (the `datasets` library and the Hub's viewer would otherwise
    guess them from the first file, and fail on the first file that guessed otherwise).
    The types are declared under `dataset_info`, not in the config: a config's features make
    pandas read an int64 or bool column with a missing value as an error."""
    return {
        "configs": [
            {
                "config_name": CONFIG_NAME,
                "data_files": [{"split": SPLIT, "path": config_glob(template)}],
            }
        ],
        "dataset_info": {"features": features()},
    }


def merge_metadata(meta: dict[str, Any], template: str) -> dict[str, Any]:
    """`meta` with our keys set and everything else as it was (a new dict)."""
    ours = our_metadata(template)
    merged = copy.deepcopy(meta)
    merged["configs"] = _merge_configs(merged.get("configs"), ours["configs"][0])
    merged["dataset_info"] = _merge_info(merged.get("dataset_info"))
    return merged


def _merge_configs(configs: Any, ours: dict[str, Any]) -> list[Any]:
    """Our default config in place of the one there (first when there was none); others kept."""
    if not isinstance(configs, list):
        return [ours]
    for i, config in enumerate(configs):
        if isinstance(config, dict) and config.get("config_name") == CONFIG_NAME:
            return [*configs[:i], ours, *configs[i + 1 :]]
    return [ours, *configs]


def _merge_info(info: Any) -> Any:
    """The default config's dataset_info is ours: its features (unless a newer version declared
    ours and more), and nothing else (split sizes there would be stale after the next push, and
    `datasets` refuses a dataset whose split sizes do not match). Other configs' are kept."""
    if isinstance(info, dict) and info.get("config_name", CONFIG_NAME) == CONFIG_NAME:
        return info if _newer(info.get("features")) else {"features": features()}
    if isinstance(info, dict):  # another config's: keep it beside ours
        return [info, {"config_name": CONFIG_NAME, "features": features()}]
    if not isinstance(info, list):
        return {"features": features()}
    for i, entry in enumerate(info):
        if isinstance(entry, dict) and entry.get("config_name", CONFIG_NAME) == CONFIG_NAME:
            if _newer(entry.get("features")):
                return info
            mine = {"config_name": CONFIG_NAME, "features": features()}
            return [*info[:i], mine, *info[i + 1 :]]
    return [*info, {"config_name": CONFIG_NAME, "features": features()}]


def _newer(declared: Any) -> bool:
    """Declared by a newer version of the tracker: our features, then more."""
    ours = features()
    return (
        isinstance(declared, list) and len(declared) > len(ours) and declared[: len(ours)] == ours
    )


def _declared(meta: dict[str, Any]) -> Any:
    """The features the default config declares, if any."""
    info = meta.get("dataset_info")
    entries = info if isinstance(info, list) else [info]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("config_name", CONFIG_NAME) == CONFIG_NAME:
            return entry.get("features")
    return None


# --- the card as text --------------------------------------------------------------------------

# The Hub's own rule for a card's YAML header (huggingface_hub.repocard).
_FRONT = re.compile(r"^(\s*---[\r\n]+)([\S\s]*?)([\r\n]+---(\r\n|\n|$))")
_FRONT_EMPTY = re.compile(r"^(\s*---[\r\n]+)(---(\r\n|\n|$))")


def split_card(text: str) -> tuple[str, dict[str, Any], str]:
    """(the YAML header as written, delimiters included, or "" when there is none; what it
    says; the body after it). Raises CardError when the header cannot be read."""
    match = _FRONT_EMPTY.match(text) or _FRONT.match(text)
    if match is None:
        return "", {}, text
    yaml_text = "" if match.re is _FRONT_EMPTY else match.group(2)
    try:
        meta = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())[:120]
        raise CardError(_card_problem(f"its YAML header does not parse ({detail})")) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CardError(_card_problem("its YAML header is not a mapping"))
    return match.group(0), meta, text[match.end() :]


def _card_problem(why: str) -> str:
    return f"README.md on the Hub: {why}; fix the card's YAML header (or remove it)"


def join_card(meta: dict[str, Any], body: str) -> str:
    """A card: the YAML header of `meta`, then `body`."""
    header = yaml.safe_dump(
        meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000
    )
    return f"---\n{header}---\n{body}"


def card_is_current(text: str | None) -> bool:
    """Whether a card declares our features (or a newer version's, which extend them): then
    every file of the table was upgraded in the commit that declared them."""
    if not text:
        return False
    try:
        _, meta, _ = split_card(text)
    except CardError:
        return False
    declared = _declared(meta)
    return declared == features() or _newer(declared)


def merge_card(existing: str | None, template: str) -> str:
    """The card a push leaves: ours when there is none; else `existing` with our YAML keys
    merged in and our sections refreshed, everything else the owner wrote kept. When nothing
    of ours changes, `existing` itself, byte for byte. Raises CardError for a YAML header that
    cannot be read (the owner's card is never overwritten on a guess)."""
    if existing is None or not existing.strip():
        return dataset_card(template)
    front, meta, body = split_card(existing)
    merged = merge_metadata(meta, template)
    new_body = set_section(body, "columns", column_table())
    if front and merged == meta:
        return front + new_body
    return join_card(merged, new_body)


# --- the card's body ---------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- inference-tracker:{name}:start -->", f"<!-- inference-tracker:{name}:end -->"


def section(name: str, content: str) -> str:
    """`content` between the markers of section `name`, for a new card."""
    start, end = _markers(name)
    return f"{start}\n{content}{end}\n"


def set_section(body: str, name: str, content: str) -> str:
    """`body` with what lies between the markers of section `name` replaced by `content`; the
    body as it was when it has no such section (the owner removed it, or never had it)."""
    start, end = _markers(name)
    first = body.find(start)
    last = body.find(end, first + len(start)) if first >= 0 else -1
    if first < 0 or last < 0:
        return body
    return f"{body[: first + len(start)]}\n{content}{body[last:]}"


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
    "error_class": "ok, http_error, timeout, connection_error, invalid_response, deadline,"
    " unmapped_provider, stream_error or budget",
    "prompt_tokens": "from the response's usage, when given",
    "completion_tokens": "from the response's usage; for a stream without usage, the count of"
    " token-carrying chunks (see tokens_source)",
    "finish_reason": "from the response, when given",
    "answer_correct": "true when the final answer of the message's content (reasoning and"
    " `<think>` blocks removed; the last `\\boxed{}`, else the last 'answer is / = ...'"
    " statement, else the last number) equals the expected number; false when a completion"
    " has no such answer (also when its content is empty); empty when there is no completion",
    "probe_id": "the machine that measured",
    "streamed": "whether the answer really came as a stream (false when the provider ignored"
    " stream, and with STREAM=false)",
    "ttft_ms": "streamed: from the send to the first chunk with content or reasoning (ms)",
    "output_tokens_per_s": "streamed: (completion_tokens - 1) / seconds from the first to the"
    " last token chunk; empty under 2 tokens or a span under 10 ms",
    "reasoning_tokens": "reasoning tokens, from the usage when given",
    "tokens_source": "where the token counts come from",
    "advertised_status": "the provider's status in the router's catalog",
    "advertised_ttft_ms": "the catalog's time to first token",
    "advertised_tokens_per_s": "the catalog's throughput",
    "price_input_per_m": "the catalog's price per million input tokens (USD)",
    "price_output_per_m": "the catalog's price per million output tokens (USD)",
    "cost_usd": "what the call cost at those prices",
}


def column_table() -> str:
    """The card's table of columns: name, type, meaning."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [
        f"| `{name}` | {kind} | {_COLUMN_NOTES.get(name, '')} |"
        for name, kind in COLUMN_TYPES.items()
    ]
    return "\n".join(lines) + "\n"


def dataset_card(template: str) -> str:
    """README.md for a dataset that has none: our YAML header, then what the data is."""
    meta = {
        "pretty_name": "Inference Providers measurements",
        "tags": ["inference-providers", "monitoring"],
        **our_metadata(template),
    }
    layout = (
        f"Each push adds one CSV file per batch of cycles at `{template}` (a push repeated after a"
        " crash rewrites the same file byte for byte, so no row is ever added twice)"
        if "{batch_id}" in template
        else f"Each push adds its new rows under the existing ones in `{template}` (rows already"
        " there are skipped, so no row is ever added twice)"
    )
    body = f"""
# Inference Providers measurements

Rows written by inference-tracker. Every few
minutes a probe takes the trending text-generation models that have live inference providers,
sends the same chat-completion request to every (model, live provider) pair through
`router.huggingface.co`, and records one row per pair: timing, status, the answer and whether
its final answer is the expected number. Failed calls are rows too (`error_class`). Tokens
never reach the data: credentials are masked and anything shaped like a Hugging Face token is
`[REDACTED]`.

{layout}. The `configs` above make the viewer read every file as one table.

CSV is UTF-8, RFC 4180 quoting (bodies hold commas, quotes and new lines), header first. Every
value is written in one form for its type: booleans `true`/`false`, integers without `.0`,
decimals with a point, empty when missing.

The YAML header declares every column's type under `dataset_info: features`, so the `datasets`
library and the viewer never guess a type from the first file (a column that happens to be
empty there). Columns are only ever added at the end. When a new version of the tracker adds
columns, its first push upgrades the dataset in one commit: files with an earlier header are
rewritten with the new header and the new columns empty (rows unchanged), and the features
here follow. That push merges its `configs` and `dataset_info` into this card and keeps
everything else written here; the table below is refreshed from the tracker's column list.

{section("columns", column_table())}"""
    return join_card(meta, body)


# --- files of an earlier layout ------------------------------------------------------------------


def in_table(path: str, template: str) -> bool:
    """Whether the default config reads `path` (its glob; `*` does not cross a `/`)."""
    parts = (re.escape(part) for part in config_glob(template).split("*"))
    return re.fullmatch("[^/]*".join(parts), path) is not None


def older_header(start: bytes) -> bool:
    """Whether `start`, the first bytes of a file, begins with the header of an earlier layout
    of ours (a start of our columns), ended by its line end."""
    line, newline, _ = start.partition(b"\n")
    if not newline:
        return False
    names = next(csv.reader(io.StringIO(line.decode("utf-8", errors="replace").rstrip("\r"))), [])
    width = layout_width(names)
    return width is not None and width < len(COLUMNS)


def upgraded_csv(data: bytes) -> bytes | None:
    """A file of an earlier layout of ours rewritten with all our columns, the new ones empty
    and the rows unchanged; None when it needs no upgrade, is not ours, or has a record that is
    not whole (such a file is left exactly as it is: an upgrade never drops a row)."""
    if not older_header(data[:HEADER_PEEK]):
        return None
    layout = rows_in_our_layout(data)
    if layout is None:
        return None
    _, rows = layout
    if len(rows) != record_count(data):
        return None
    return encode_rows(rows, header=True)


# --- append mode ---------------------------------------------------------------------------------


def merge_csv(existing: bytes | None, rows: list[Row], path: str) -> tuple[bytes, int, int]:
    """`rows` added under `existing`, skipping rows already there. Returns (file, added, skipped).

    A file of an earlier layout (the original tool's 14 columns, the 21 before the streaming and
    catalog columns) is rewritten with the full header and its rows padded, so nothing earlier
    is lost and the table stays one table. Raises LayoutError for a file of other columns, and
    for one of an earlier layout with records that are not whole (the rewrite would drop them).
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
        if not whole_header:
            _check_whole(existing, len(old), path)
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


def _check_whole(existing: bytes, rows: int, path: str) -> None:
    """Refuse to rewrite a file whose records are not all rows: the rewrite would drop them
    from the Hub. The file is left as it is, for its owner to repair."""
    lost = record_count(existing) - rows
    if lost:
        raise LayoutError(
            f"{path} on the Hub needs the new columns, but {plural(lost, 'record')} in it"
            " cannot be read as rows and would be dropped; it is left as it is: repair the"
            " file or point HF_DATASET_TARGET_FILENAME at a new file"
        )


def _key(row: Row) -> tuple[str, ...]:
    return tuple(row.get(name, "") for name in ROW_KEY)
