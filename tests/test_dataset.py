"""The dataset card (pure): what it declares, how an existing card is merged, and the pure
helpers of the upgrade of files of an earlier layout."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from inference_tracker.csvfile import encode_rows
from inference_tracker.dataset import (
    CardError,
    LayoutError,
    card_is_current,
    config_glob,
    dataset_card,
    features,
    in_table,
    merge_card,
    merge_csv,
    older_header,
    set_section,
    upgraded_csv,
)
from inference_tracker.record import COLUMN_TYPES, COLUMNS
from tests.rows import cycle_rows, old_layout

SHARDS = "data/{date}/{probe_id}-{batch_id}.csv"
APPEND = "metrics.csv"
OURS = [{"name": name, "dtype": kind} for name, kind in COLUMN_TYPES.items()]
DEFAULT_CONFIG = {
    "config_name": "default",
    "data_files": [{"split": "train", "path": "data/*/*-*.csv"}],
}


def meta_of(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    header = card.split("\n---\n", 1)[0].removeprefix("---\n")
    meta = yaml.safe_load(header)
    assert isinstance(meta, dict)
    return meta


def body_of(card: str) -> str:
    return card.split("\n---\n", 1)[1]


# --- what a card declares -----------------------------------------------------------------


def test_features_are_every_column_with_its_type_in_order() -> None:
    assert features() == OURS
    assert [f["name"] for f in features()] == list(COLUMNS)


@pytest.mark.parametrize(
    ("template", "glob"),
    [
        (SHARDS, "data/*/*-*.csv"),
        ("{batch_id}.csv", "*.csv"),
        (APPEND, "metrics.csv"),
        ("data/metrics-{date}.csv", "data/metrics-*.csv"),
    ],
)
def test_the_config_reads_every_file_the_template_makes(template: str, glob: str) -> None:
    assert config_glob(template) == glob
    meta = meta_of(dataset_card(template))
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": glob}]}
    ]


def test_a_new_card_declares_every_columns_type_and_documents_them() -> None:
    card = dataset_card(SHARDS)
    meta = meta_of(card)
    assert meta["dataset_info"] == {"features": OURS}
    assert meta["configs"] == [DEFAULT_CONFIG]
    assert meta["pretty_name"] == "Inference Providers measurements"
    body = body_of(card)
    for name, kind in COLUMN_TYPES.items():
        assert f"| `{name}` | {kind} |" in body
    assert "dataset_info" in body and "upgrade" in body  # the prose says what and how
    assert card_is_current(card)


@pytest.mark.parametrize("existing", [None, "", "  \n"])
def test_no_card_gets_ours(existing: str | None) -> None:
    assert merge_card(existing, SHARDS) == dataset_card(SHARDS)


def test_our_own_card_is_left_byte_for_byte() -> None:
    card = dataset_card(SHARDS)
    assert merge_card(card, SHARDS) == card


# --- an existing card is upgraded, everything else kept ---------------------------------------

OWNERS = """---
license: mit
language:
- en
# a comment the owner wrote
tags:
- my-tag
configs:
- config_name: raw
  data_files: raw/*.jsonl
task_categories:
- text-generation
---

# My measurements

Written by hand. Numbers: 1, 2, 3.
"""


def test_an_owners_card_gets_our_keys_and_keeps_everything_else() -> None:
    merged = merge_card(OWNERS, SHARDS)
    meta = meta_of(merged)
    assert meta["license"] == "mit" and meta["language"] == ["en"] and meta["tags"] == ["my-tag"]
    assert meta["task_categories"] == ["text-generation"]
    assert meta["configs"] == [DEFAULT_CONFIG, {"config_name": "raw", "data_files": "raw/*.jsonl"}]
    assert meta["dataset_info"] == {"features": OURS}
    assert list(meta) == [
        "license",
        "language",
        "tags",
        "configs",
        "task_categories",
        "dataset_info",
    ]
    assert body_of(merged) == "\n# My measurements\n\nWritten by hand. Numbers: 1, 2, 3.\n"
    assert merge_card(merged, SHARDS) == merged  # merged once, then stable
    assert card_is_current(merged) and not card_is_current(OWNERS)


def test_a_card_already_holding_our_keys_is_kept_as_written_comments_and_all() -> None:
    features_yaml = "".join(f"  - name: {n}\n    dtype: {t}\n" for n, t in COLUMN_TYPES.items())
    card = (
        "---\n# the owner's comment\nlicense: mit\nconfigs:\n- config_name: default\n"
        '  data_files:\n  - split: train\n    path: "data/*/*-*.csv"\n'
        f"dataset_info:\n  features:\n{features_yaml}---\nprose\n"
    )
    assert merge_card(card, SHARDS) == card


def test_todays_card_is_upgraded_with_the_features() -> None:
    """The card the 21-column version wrote: no features. The prose it wrote stays."""
    todays = (
        "---\npretty_name: Inference Providers measurements\ntags:\n- inference-providers\n"
        "- monitoring\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        '    path: "data/*/*-*.csv"\n---\n\n# Inference Providers measurements\n\n| column |'
        " meaning |\n|---|---|\n| `probe_id` | the machine that measured |\n"
    )
    merged = merge_card(todays, SHARDS)
    meta = meta_of(merged)
    assert meta["dataset_info"] == {"features": OURS}
    assert meta["configs"] == [DEFAULT_CONFIG]
    assert meta["tags"] == ["inference-providers", "monitoring"]
    assert body_of(merged) == body_of(todays)


def test_older_features_and_stale_split_sizes_are_replaced() -> None:
    """Our config's dataset_info is ours: split sizes would be stale after the next push (and
    datasets refuses a dataset whose split sizes do not match)."""
    old = [{"name": n, "dtype": t} for n, t in list(COLUMN_TYPES.items())[:21]]
    card = (
        "---\n"
        + yaml.safe_dump(
            {
                "configs": [DEFAULT_CONFIG],
                "dataset_info": {
                    "features": old,
                    "splits": [{"name": "train", "num_examples": 10}],
                    "dataset_size": 5,
                },
            },
            sort_keys=False,
        )
        + "---\n"
    )
    assert not card_is_current(card)
    assert meta_of(merge_card(card, SHARDS))["dataset_info"] == {"features": OURS}


def test_dataset_info_as_a_list_keeps_the_other_configs() -> None:
    other = {"config_name": "raw", "features": [{"name": "x", "dtype": "string"}]}
    card = "---\n" + yaml.safe_dump({"dataset_info": [other]}, sort_keys=False) + "---\n"
    meta = meta_of(merge_card(card, SHARDS))
    assert meta["dataset_info"] == [other, {"config_name": "default", "features": OURS}]
    stale = {"config_name": "default", "features": OURS[:3], "splits": []}
    card = "---\n" + yaml.safe_dump({"dataset_info": [stale, other]}, sort_keys=False) + "---\n"
    meta = meta_of(merge_card(card, SHARDS))
    assert meta["dataset_info"] == [{"config_name": "default", "features": OURS}, other]


def test_features_of_a_newer_version_are_left_to_it() -> None:
    """A probe of a newer version declared more columns (ours, then more): an older probe must
    not take them back, or the newer shards would no longer load."""
    newer = [*OURS, {"name": "from_a_newer_version", "dtype": "string"}]
    card = (
        "---\n"
        + yaml.safe_dump(
            {"configs": [DEFAULT_CONFIG], "dataset_info": {"features": newer}}, sort_keys=False
        )
        + "---\n"
    )
    assert merge_card(card, SHARDS) == card
    assert card_is_current(card)


def test_a_card_without_yaml_gets_a_header_above_the_owners_text() -> None:
    merged = merge_card("# mine\n\nabout the data\n", SHARDS)
    meta = meta_of(merged)
    assert set(meta) == {"configs", "dataset_info"}
    assert meta["dataset_info"] == {"features": OURS}
    assert merged.endswith("---\n# mine\n\nabout the data\n")


def test_an_empty_yaml_header_is_filled() -> None:
    merged = merge_card("---\n---\nbody\n", APPEND)
    assert meta_of(merged)["configs"][0]["data_files"] == [{"split": "train", "path": APPEND}]
    assert body_of(merged) == "body\n"


def test_crlf_cards_are_read() -> None:
    card = "---\r\nlicense: mit\r\n---\r\n# mine\r\n"
    merged = merge_card(card, SHARDS)
    assert meta_of(merged)["license"] == "mit"
    assert merged.endswith("# mine\r\n")


@pytest.mark.parametrize(
    ("card", "why"),
    [
        ("---\nlicense: [mit\n---\n# mine\n", "its YAML header does not parse"),
        ("---\n- a\n- b\n---\n", "its YAML header is not a mapping"),
        ("---\njust text\n---\n", "its YAML header is not a mapping"),
    ],
)
def test_a_card_whose_yaml_cannot_be_read_is_refused_not_overwritten(card: str, why: str) -> None:
    with pytest.raises(CardError) as refused:
        merge_card(card, SHARDS)
    message = str(refused.value)
    assert message.startswith(f"README.md on the Hub: {why}")
    assert message.endswith("; fix the card's YAML header (or remove it)")
    assert "\n" not in message


# --- sections between markers (the column table now; a leaderboard later) -----------------


def test_set_section_replaces_only_between_its_markers() -> None:
    body = "intro\n<!-- inference-tracker:x:start -->\nold\n<!-- inference-tracker:x:end -->\nend\n"
    assert set_section(body, "x", "new\n") == body.replace("old\n", "new\n")
    assert set_section(body, "y", "new\n") == body  # no such section: the body as it was
    assert set_section(set_section(body, "x", "new\n"), "x", "new\n") == body.replace("old", "new")


def test_the_column_table_of_our_card_follows_the_columns() -> None:
    card = dataset_card(SHARDS)
    shortened = card.replace("| `cost_usd` | float64 |", "| `cost_usd_OLD` | float64 |")
    assert shortened != card
    assert merge_card(shortened, SHARDS) == card


# --- files of an earlier layout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("data/2026-11-27/p-20261127T100000Z-abc.csv", True),
        ("data/2026-11-27/sub/p-x.csv", False),
        ("data/p-x.csv", False),
        ("other/2026-11-27/p-x.csv", False),
        ("data/2026-11-27/p-x.csv.bak", False),
        ("README.md", False),
    ],
)
def test_in_table_matches_the_config_glob(path: str, inside: bool) -> None:
    assert in_table(path, SHARDS) is inside


def test_in_table_for_the_append_layout() -> None:
    assert in_table("metrics.csv", APPEND)
    assert not in_table("data/metrics.csv", APPEND)
    assert in_table("m-2026-11-27.csv", "m-{date}.csv")


@pytest.mark.parametrize(
    ("start", "older"),
    [
        (old_layout(cycle_rows(0))[:600], True),  # a start of the file: the header in it
        (old_layout(cycle_rows(0), 14)[:300], True),
        (old_layout(cycle_rows(0), 21).split(b"\r\n")[0] + b"\n", True),
        (",".join(COLUMNS).encode() + b"\r\n1,2", False),  # ours, whole
        (",".join([*COLUMNS, "newer"]).encode() + b"\r\n", False),
        (b"a,b,c\r\n1,2,3\r\n", False),
        (b"", False),
        (",".join(COLUMNS[:21]).encode(), False),  # no line end: the header may go on
    ],
)
def test_older_header(start: bytes, older: bool) -> None:
    assert older_header(start) is older


def test_upgraded_csv_rewrites_an_earlier_layout_with_the_rows_unchanged() -> None:
    rows = cycle_rows(0)
    assert upgraded_csv(old_layout(rows)) == encode_rows(rows, header=True)
    assert upgraded_csv(old_layout(rows, 14)) is not None
    assert upgraded_csv(encode_rows(rows, header=True)) is None  # current: nothing to do
    assert upgraded_csv(b"a,b\r\n1,2\r\n") is None  # not ours: left alone
    torn = old_layout(rows) + b"2026-11-27T10:00:00.000Z,torn\r\n"
    assert upgraded_csv(torn) is None  # a record not whole: left as it is, never cut


# --- append mode ---------------------------------------------------------------------------------


def test_merge_refuses_to_rewrite_a_file_whose_records_are_not_all_whole() -> None:
    """A file of an earlier layout is rewritten with all our columns: a record that cannot be
    read as a row would be dropped from the Hub, so the file is left as it is."""
    rows = cycle_rows(0)
    existing = (
        old_layout(rows[:2])
        + old_layout(rows[2:3]).split(b"\r\n", 1)[1].replace(b"\r\n", b",extra\r\n")
        + b'2026-11-27T10:00:00.000Z,"unclosed\r\n'
    )
    with pytest.raises(LayoutError, match=r"^metrics.csv on the Hub .* 2 records in it") as raised:
        merge_csv(existing, cycle_rows(1), APPEND)
    assert "\n" not in str(raised.value)


def test_merge_rewrites_a_whole_file_of_an_earlier_layout() -> None:
    old, new = cycle_rows(0), cycle_rows(1)
    merged, added, skipped = merge_csv(old_layout(old), new, APPEND)
    assert merged == encode_rows(old + new, header=True)
    assert (added, skipped) == (4, 0)
