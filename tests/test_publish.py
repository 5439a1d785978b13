"""publish.push_pending with the real huggingface_hub client against the fake Hub on 127.0.0.1."""

from __future__ import annotations

import ast
import base64
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inference_tracker.clock import Clock
from inference_tracker.config import ConfigError, Settings, load_settings
from inference_tracker.csvfile import decode_rows, encode_rows, read_csv
from inference_tracker.dataset import LayoutError, card_is_current, dataset_card, merge_csv
from inference_tracker.hub import Hub, HubLimits
from inference_tracker.publish import (
    Destination,
    PushError,
    PushResult,
    destination_from_settings,
    push_pending,
)
from inference_tracker.record import COLUMN_TYPES, COLUMNS, Row
from inference_tracker.snapshot import read_snapshot
from inference_tracker.store import Store
from tests.fakes.hub import FakeHub, git_blob_oid
from tests.helpers import quiet_log
from tests.hub_helpers import (
    HUB_TOKEN,
    INFERENCE_TOKEN,
    READ_TOKEN,
    REPO,
    assert_each_once,
    dataset_rows,
    parse_csv,
    todays_dataset,
)
from tests.rows import T0, cycle_rows, old_layout, summary_of

SHARDS = "data/{date}/{probe_id}-{batch_id}.csv"
APPEND = "metrics.csv"
NOW = T0 + timedelta(hours=1)
FAST = HubLimits(total_seconds=10.0, request_seconds=5.0)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(tokens={HUB_TOKEN: "write", READ_TOKEN: "read"}) as fake:
        fake.create_repo(REPO)
        yield fake


@pytest.fixture
def pauses() -> list[float]:
    """Retry pauses a push asked for (recorded, not waited)."""
    return []


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")


def target(hub: FakeHub, template: str = SHARDS, **changes: str) -> Destination:
    fields = {
        "repo_id": REPO,
        "filename_template": template,
        "endpoint": hub.url,
        "token": HUB_TOKEN,
        "probe_id": "test-probe",
        **changes,
    }
    return Destination(**fields)


def collect(store: Store, first: int, count: int) -> list[Row]:
    """`count` cycles into the buffer, as collect stores them; returns their rows."""
    stored: list[Row] = []
    for cycle in range(first, first + count):
        rows = cycle_rows(cycle)
        store.append_cycle(rows, summary_of(rows))
        stored += rows
    return stored


NO_WAIT = Clock(sleep=lambda seconds: None)


def push(
    store: Store,
    hub: FakeHub,
    template: str = SHARDS,
    limits: HubLimits = FAST,
    clock: Clock = NO_WAIT,
) -> PushResult:
    log, _ = quiet_log()
    return push_pending(store, target(hub, template), log, NOW, limits=limits, clock=clock)


def pending_rows(store: Store) -> int:
    return sum(len(read_csv(b.path).rows) for b in store.pending())


# --- the fake Hub is the Hub, as far as the client can tell -----------------------------------


def test_fake_hub_speaks_the_real_clients_protocol(hub: FakeHub) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
    info = api.create_commit(
        REPO,
        [CommitOperationAdd("a/b.csv", b"x,y\r\n1,2\r\n")],
        commit_message="add",
        repo_type="dataset",
    )
    assert info.commit_url == f"{hub.url}/datasets/{REPO}/commit/{info.oid}"
    assert hub.file(REPO, "a/b.csv") == b"x,y\r\n1,2\r\n"
    # The same content again: preupload reports the oid, the client makes no commit.
    again = api.create_commit(
        REPO,
        [CommitOperationAdd("a/b.csv", b"x,y\r\n1,2\r\n")],
        commit_message="same",
        repo_type="dataset",
    )
    assert again.oid == info.oid and len(hub.history(REPO)) == 2
    preupload = json.loads(hub.calls("preupload")[-1].body)
    assert preupload["files"][0]["path"] == "a/b.csv"
    assert base64.b64decode(preupload["files"][0]["sample"]) == b"x,y\r\n1,2\r\n"
    # Downloads see X-Repo-Commit and the git blob oid as ETag.
    path = api.hf_hub_download(REPO, "a/b.csv", repo_type="dataset")
    assert Path(path).read_bytes() == b"x,y\r\n1,2\r\n"
    head = [s for s in hub.calls("resolve") if s.method == "HEAD"]
    assert head, "hf_hub_download asks for metadata first"
    assert [f.path for f in api.list_repo_tree(REPO, repo_type="dataset", recursive=True)] == [
        ".gitattributes",
        "a",
        "a/b.csv",
    ]
    assert api.file_exists(REPO, "a/b.csv", repo_type="dataset")
    assert not api.file_exists(REPO, "nope.csv", repo_type="dataset")
    assert git_blob_oid(b"Hello, World!") == "b45ef6fec89518d314f546fd6c3025367b721684"


def test_fake_hub_refuses_a_stale_parent_commit_and_bad_tokens(hub: FakeHub) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    first = hub.history(REPO)[-1].oid
    hub.commit_files(REPO, {"other.txt": b"someone else"})
    api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            REPO,
            [CommitOperationAdd("x", b"1")],
            commit_message="m",
            repo_type="dataset",
            parent_commit=first,
        )
    assert stale.value.response.status_code == 412
    assert (
        stale.value.server_message == "A commit has happened since. Please refresh and try again."
    )
    for token, repo, status in ((READ_TOKEN, REPO, 403), ("hf_" + "Unknown0" * 4, REPO, 401)):
        with pytest.raises(HfHubHTTPError) as refused:
            HfApi(endpoint=hub.url, token=token).create_commit(
                repo, [CommitOperationAdd("x", b"1")], commit_message="m", repo_type="dataset"
            )
        assert refused.value.response.status_code == status
    with pytest.raises(RepositoryNotFoundError):
        api.create_commit(
            "me/nope", [CommitOperationAdd("x", b"1")], commit_message="m", repo_type="dataset"
        )


def test_fake_hub_faults_fail_n_times_then_behave_and_the_hub_retries_them(
    hub: FakeHub, pauses: list[float]
) -> None:
    hub.fail("preupload", 503, times=2)
    with Hub(hub.url, HUB_TOKEN, clock=Clock(sleep=pauses.append)) as session:
        session.commit(REPO, {"x": b"1"}, message="m", description="")
    assert [s.status for s in hub.calls("preupload")] == [503, 503, 200]
    assert pauses == [1, 2]  # the library's back-off, recorded instead of waited
    assert hub.file(REPO, "x") == b"1"


def test_hub_lists_files_and_reads_their_start(hub: FakeHub) -> None:
    head = hub.commit_files(
        REPO, {"a/b/c.csv": b"x,y\r\n" + b"1,2\r\n" * 1000, "top.csv": b"", "d/e.txt": b"e"}
    )
    with Hub(hub.url, HUB_TOKEN, limits=FAST, clock=NO_WAIT) as session:
        assert sorted(session.list_files(REPO, head)) == [
            ".gitattributes",
            "a/b/c.csv",
            "d/e.txt",
            "top.csv",
        ]
        assert session.read_start(REPO, "a/b/c.csv", head, 16) == b"x,y\r\n1,2\r\n1,2\r\n1"
        assert session.read_start(REPO, "d/e.txt", head, 16) == b"e"
        assert session.read_start(REPO, "top.csv", head, 16) == b""
        assert session.read_start(REPO, "nope.csv", head, 16) is None
    ranged = [s for s in hub.calls("resolve") if s.headers.get("Range")]
    assert [s.headers["Range"] for s in ranged] == ["bytes=0-15"] * 4
    assert all(s.status in (206, 404, 416, 200) for s in ranged)


def test_a_commit_is_never_retried(hub: FakeHub, pauses: list[float]) -> None:
    hub.fail("commit", 503, times=1)
    with (
        pytest.raises(Exception, match="503"),
        Hub(hub.url, HUB_TOKEN, clock=Clock(sleep=pauses.append)) as session,
    ):
        session.commit(REPO, {"x": b"1"}, message="m", description="")
    assert len(hub.calls("commit")) == 1 and pauses == []


# --- settings -------------------------------------------------------------------------------


def test_target_needs_hf_hub_token_and_never_falls_back_to_hf_token() -> None:
    settings = Settings(hf_token=INFERENCE_TOKEN, hf_dataset_repo_id=REPO)
    with pytest.raises(ConfigError, match=r"^HF_HUB_TOKEN is not set"):
        destination_from_settings(settings)
    blank = Settings(hf_hub_token="  ", hf_dataset_repo_id=REPO)
    with pytest.raises(ConfigError, match=r"^HF_HUB_TOKEN is not set"):
        destination_from_settings(blank)


def test_target_needs_a_dataset_repo_id() -> None:
    with pytest.raises(ConfigError, match=r"^HF_DATASET_REPO_ID is not set"):
        destination_from_settings(Settings(hf_hub_token=HUB_TOKEN))


def test_a_bad_repo_id_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASET_REPO_ID", "no slash")
    with pytest.raises(ConfigError, match=r"^invalid setting HF_DATASET_REPO_ID"):
        load_settings()


@pytest.mark.parametrize(
    "template",
    [
        "data/{day}/{batch_id}.csv",
        "data/{}.csv",
        "data/{batch_id!r}.csv",
        "/abs/{batch_id}.csv",
        "../x.csv",
        "{",
        "README.md",
    ],
)
def test_a_bad_target_filename_is_a_config_error(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", template)
    with pytest.raises(ConfigError, match=r"^invalid setting HF_DATASET_TARGET_FILENAME"):
        load_settings()


def test_destination_from_settings_and_deterministic_paths(store: Store) -> None:
    settings = Settings(
        hf_hub_token=HUB_TOKEN,
        hf_dataset_repo_id=REPO,
        hf_endpoint="http://127.0.0.1:9",
        probe_id="probe-1",
    )
    made = destination_from_settings(settings)
    assert (made.repo_id, made.endpoint, made.token, made.probe_id) == (
        REPO,
        "http://127.0.0.1:9",
        HUB_TOKEN,
        "probe-1",
    )
    assert made.shard_mode and HUB_TOKEN not in repr(made)
    collect(store, 0, 2)
    batch = store.seal()
    assert batch is not None
    assert made.path_for(batch) == f"data/2026-11-27/probe-1-{batch.id}.csv"
    assert made.path_for(batch) == made.path_for(store.pending()[0])
    assert not Destination(REPO, APPEND, "http://h", HUB_TOKEN, "p").shard_mode


# --- shard mode -----------------------------------------------------------------------------


def test_nothing_pending_pushes_nothing(store: Store, hub: FakeHub) -> None:
    result = push(store, hub)
    assert result == PushResult(rows=0, files=0, batches=0, commit_url=None)
    assert hub.requests == []
    assert len(hub.history(REPO)) == 1


def test_push_seals_the_buffer_and_sends_every_pending_batch_in_one_commit(
    store: Store, hub: FakeHub
) -> None:
    expected = collect(store, 0, 2)
    store.seal()  # a backlog: an earlier push sealed and failed
    expected += collect(store, 2, 2)
    store.seal()
    expected += collect(store, 4, 2)  # still in the buffer
    log, stream = quiet_log()

    result = push_pending(store, target(hub), log, NOW, limits=FAST, clock=NO_WAIT)

    assert len(hub.calls("commit")) == 1
    assert result.rows == len(expected) == 24 and result.batches == 3
    assert result.files == 4  # three shards and the card
    head = hub.history(REPO)[0]
    assert result.commit_url == f"{hub.url}/datasets/{REPO}/commit/{head.oid}"
    assert head.summary == "Add 24 rows from 6 cycles (probe test-probe)"
    assert_each_once(dataset_rows(hub), expected)
    shards = sorted(p for p in hub.files(REPO) if p.startswith("data/"))
    assert [p.rsplit("/", 1)[-1] for p in shards] == sorted(
        f"test-probe-{b.stem}.csv" for b in store.archived()
    )
    for path in store.archived():  # each shard is the sealed batch, byte for byte
        assert hub.file(REPO, f"data/2026-11-27/test-probe-{path.stem}.csv") == path.read_bytes()
    assert store.pending() == [] and not store.buffer_path.exists()
    last_push = store.read_state().last_push
    assert last_push is not None
    assert (last_push.commit_url, last_push.rows) == (result.commit_url, 24)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    pushed = [e for e in events if e["event"] == "pushed"]
    assert pushed and pushed[0]["commit_url"] == result.commit_url and pushed[0]["rows"] == 24
    assert "hello, " not in stream.getvalue()  # never the file contents


def test_first_push_writes_a_dataset_card_that_reads_every_shard(
    store: Store, hub: FakeHub
) -> None:
    collect(store, 0, 1)
    push(store, hub)
    card = hub.file(REPO, "README.md")
    assert card is not None
    text = card.decode()
    meta = card_meta(text)
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/*/*-*.csv"}]}
    ]
    assert meta["dataset_info"] == {
        "features": [{"name": name, "dtype": kind} for name, kind in COLUMN_TYPES.items()]
    }
    for column in COLUMNS:
        assert f"`{column}`" in text
    assert len(hub.calls("validate-yaml")) == 1
    # Our card, then this probe's live leaderboard section (issue 15).
    assert text.startswith(dataset_card(SHARDS))
    assert "<!-- inference-tracker:leaderboard:test-probe:start -->" in text


def test_the_leaderboard_counts_the_rows_pushed_and_the_archived_ones_each_once(
    store: Store, hub: FakeHub
) -> None:
    collect(store, 0, 1)
    push(store, hub)  # cycle 0 is archived
    collect(store, 1, 2)
    push(store, hub)  # cycles 1 and 2 are the pending rows, read once for the push
    text = (hub.file(REPO, "README.md") or b"").decode()
    section = text.split("#### Last 7 days")[1]
    for provider in ("groq", "together"):
        assert f"| {provider} | up | 6 |" in section, section  # 3 cycles x 2 models


def card_meta(text: str) -> dict[str, Any]:
    import yaml

    meta = yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))
    assert isinstance(meta, dict)
    return meta


def committed_paths(commit: Any) -> list[str]:
    """The paths a commit request carried (its NDJSON file lines)."""
    lines = [json.loads(line) for line in commit.body.splitlines() if line.strip()]
    return [line["value"]["path"] for line in lines if line["key"] == "file"]


def test_a_card_edited_by_a_human_is_merged_not_replaced(store: Store, hub: FakeHub) -> None:
    collect(store, 0, 1)
    push(store, hub)
    hub.commit_files(REPO, {"README.md": b"---\nlicense: mit\n---\n# edited by a human\n"})
    collect(store, 1, 1)
    push(store, hub)
    text = (hub.file(REPO, "README.md") or b"").decode()
    meta = card_meta(text)
    assert meta["license"] == "mit"
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/*/*-*.csv"}]
    assert [f["name"] for f in meta["dataset_info"]["features"]] == list(COLUMNS)
    assert text.split("<!-- inference-tracker:leaderboard:")[0].endswith(
        "\n---\n# edited by a human\n\n"
    )  # the owner's words end the card, then this probe's leaderboard section
    assert len(hub.calls("validate-yaml")) == 2
    # Once merged, a later push changes only this probe's leaderboard section.
    collect(store, 2, 1)
    push(store, hub)
    later = (hub.file(REPO, "README.md") or b"").decode()
    marker = "<!-- inference-tracker:leaderboard:"
    assert later.split(marker)[0] == text.split(marker)[0]


def test_a_card_without_yaml_gets_our_header_and_keeps_its_text(store: Store, hub: FakeHub) -> None:
    hub.commit_files(REPO, {"README.md": b"# mine\n"})
    collect(store, 0, 1)
    push(store, hub)
    text = (hub.file(REPO, "README.md") or b"").decode()
    assert set(card_meta(text)) == {"configs", "dataset_info"}
    assert text.split("<!-- inference-tracker:leaderboard:")[0].endswith("\n---\n# mine\n\n")


def test_a_card_whose_yaml_does_not_parse_fails_the_push_and_keeps_everything(
    store: Store, hub: FakeHub
) -> None:
    broken = b"---\nlicense: [mit\n---\n# mine\n"
    hub.commit_files(REPO, {"README.md": broken})
    collect(store, 0, 1)
    commits = len(hub.history(REPO))
    with pytest.raises(PushError) as failed:
        push(store, hub)
    message = str(failed.value)
    assert message.startswith("README.md on the Hub: its YAML header does not parse (")
    assert message.endswith("; fix the card's YAML header (or remove it)")
    assert "\n" not in message
    assert hub.file(REPO, "README.md") == broken and len(hub.history(REPO)) == commits
    assert pending_rows(store) == 4
    error = store.read_state().last_error
    assert error is not None and error.message == message
    hub.commit_files(REPO, {"README.md": b"---\nlicense: mit\n---\n# mine\n"})  # fixed
    assert push(store, hub).rows == 4
    assert card_meta((hub.file(REPO, "README.md") or b"").decode())["license"] == "mit"


def test_the_steady_state_reads_the_card_and_never_the_shards(store: Store, hub: FakeHub) -> None:
    collect(store, 0, 1)
    push(store, hub)
    before = len(hub.requests)
    collect(store, 1, 1)
    push(store, hub)
    later = hub.requests[before:]
    assert [s.endpoint for s in later if s.endpoint in ("tree", "paths-info")] == []
    reads = [s.path.split("/resolve/", 1)[1] for s in later if s.endpoint == "resolve"]
    assert [r.split("/", 1)[1] for r in reads] == ["README.md"]
    commit = hub.calls("commit")[-1]
    shard, card = sorted(committed_paths(commit), key=lambda path: path == "README.md")
    assert shard.startswith("data/2026-11-27/test-probe-")
    assert card == "README.md"  # the probe's leaderboard section is refreshed with every push
    header = json.loads(commit.body.splitlines()[0])["value"]
    assert "parentCommit" in header  # the card was derived from the head: a 412 protects it


# --- upgrades: a dataset written with fewer columns ------------------------------------------


def test_a_dataset_of_the_21_column_version_is_upgraded_in_the_same_commit(
    store: Store, hub: FakeHub
) -> None:
    old = [cycle_rows(c, providers=("groq",)) for c in (40, 41)]
    shards = todays_dataset(hub, old)
    foreign = b"a,b,c\r\n1,2,3\r\n"
    outside = old_layout(cycle_rows(42), 21)
    hub.commit_files(
        REPO, {"data/2026-11-20/other-x.csv": foreign, "notes/old.csv": outside}, "others"
    )
    commits = len(hub.history(REPO))
    expected = collect(store, 0, 2)

    result = push(store, hub)

    assert len(hub.history(REPO)) == commits + 1  # one commit: rows, card and upgrades
    assert hub.history(REPO)[0].summary == (
        f"Add 8 rows from 2 cycles (probe test-probe); upgrade 2 files to {len(COLUMNS)} columns"
    )
    paths = committed_paths(hub.calls("commit")[-1])
    assert sorted(paths) == sorted([*shards, "README.md", *(
        p for p in hub.files(REPO) if p.startswith("data/2026-11-27/test-probe-")
    )])  # fmt: skip
    assert result.files == 4
    for path, data in shards.items():  # each old shard: the new header, the rows unchanged
        assert hub.file(REPO, path) == encode_rows(decode_rows(data, path).rows, header=True)
    assert hub.file(REPO, "data/2026-11-20/other-x.csv") == foreign  # not ours: left alone
    assert hub.file(REPO, "notes/old.csv") == outside  # not read by the config: left alone
    meta = card_meta((hub.file(REPO, "README.md") or b"").decode())
    assert [f["name"] for f in meta["dataset_info"]["features"]] == list(COLUMNS)
    ours = {
        p: d
        for p, d in hub.files(REPO).items()
        if p.startswith("data/2026-11-2") and "other-x" not in p
    }
    rows = [row for path in sorted(ours) for row in decode_rows(ours[path], path).rows]
    assert_each_once(rows, expected + [r for batch in old for r in batch])
    # Only the first bytes of each file were read to find old headers; whole files only
    # for the two to upgrade.
    reads = [s for s in hub.calls("resolve") if "/data/" in s.path and s.method == "GET"]
    ranged = [s for s in reads if s.headers.get("Range")]
    assert len(ranged) == 3 and all(s.headers["Range"].startswith("bytes=0-") for s in ranged)
    assert len(reads) - len(ranged) == 2

    collect(store, 2, 1)
    before = len(hub.requests)
    push(store, hub)
    assert [s for s in hub.requests[before:] if s.endpoint == "tree"] == []  # upgraded: steady


def test_a_large_upgrade_gets_time_for_its_files_a_dead_hub_does_not(
    store: Store, hub: FakeHub
) -> None:
    """The upgrade of a dataset with many shards takes many requests, once: its push gets time
    in proportion to the files it must read, on top of the push's limit. Here every reading
    of the clock takes 0.02 s: 120 files would blow a 3 s push, but not the upgrade's own."""
    todays_dataset(hub, [cycle_rows(100 + c, models=1, providers=("groq",)) for c in range(120)])
    expected = collect(store, 0, 1)
    ticks = iter(range(10**9))
    slow = Clock(monotonic=lambda: next(ticks) * 0.02, sleep=lambda seconds: None)
    limits = HubLimits(total_seconds=3.0, request_seconds=1.0)

    result = push(store, hub, limits=limits, clock=slow)

    assert result.files == 122  # the shard, the card and every old shard
    assert len(dataset_rows(hub)) == 120 + len(expected)
    hub.hang("resolve")  # the time given is for the files: a silent Hub still fails in time
    collect(store, 1, 1)
    started = time.monotonic()
    with pytest.raises(PushError, match="no answer within"):
        push(store, hub, limits=HubLimits(total_seconds=1.0, request_seconds=0.3))
    assert time.monotonic() - started < 15


def test_an_old_shard_with_a_torn_record_is_left_as_it_is_and_said(
    store: Store, hub: FakeHub
) -> None:
    shards = todays_dataset(hub, [cycle_rows(40), cycle_rows(41)])
    torn_path, whole_path = sorted(shards)
    torn = shards[torn_path] + b"2026-11-27T13:25:00.000Z,torn\r\n"
    hub.commit_files(REPO, {torn_path: torn})
    collect(store, 0, 1)
    log, stream = quiet_log()

    push_pending(store, target(hub), log, NOW, limits=FAST, clock=NO_WAIT)

    assert hub.file(REPO, torn_path) == torn  # an upgrade never drops a record
    assert hub.file(REPO, whole_path) == encode_rows(cycle_rows(41), header=True)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e.get("path")) for e in events if "upgrade" in e["event"]] == [
        ("dataset_file_not_upgraded", torn_path),
        ("dataset_upgrade", None),
    ]
    # The card does not declare the new columns while a file lacks them (a card that does
    # means every file was upgraded: no file would be looked at again).
    assert not card_is_current(hub.file(REPO, "README.md").decode())

    hub.commit_files(REPO, {torn_path: shards[torn_path]})  # the record mended by hand
    collect(store, 1, 1)
    push(store, hub)
    assert card_is_current(hub.file(REPO, "README.md").decode())
    assert hub.file(REPO, torn_path) != shards[torn_path]  # upgraded at last


def test_an_upgrade_whose_answer_was_lost_lands_each_row_once(store: Store, hub: FakeHub) -> None:
    old = [cycle_rows(40)]
    shards = todays_dataset(hub, old)
    expected = collect(store, 0, 1)
    hub.fail("commit", 500, apply=True)
    with pytest.raises(PushError):
        push(store, hub)
    landed = hub.files(REPO)
    commits = len(hub.history(REPO))

    push(store, hub)

    assert hub.files(REPO) == landed and len(hub.history(REPO)) == commits  # identical bytes
    assert_each_once(dataset_rows(hub), expected + old[0])
    assert all(hub.file(REPO, p) != d for p, d in shards.items())


def test_a_push_during_another_probes_card_change_keeps_both(store: Store, hub: FakeHub) -> None:
    """Probe B merges the card while probe A's push is under way: A's commit names the commit it
    read the card at, the Hub refuses it (412), and A merges again from B's card."""
    todays_dataset(hub, [cycle_rows(40)])
    expected = collect(store, 0, 1)
    theirs = b"---\nlicense: mit\n---\n# B's words\n"
    hub.before("commit", lambda: hub.commit_files(REPO, {"README.md": theirs}, "probe B"))

    push(store, hub)

    assert [s.status for s in hub.calls("commit")] == [412, 200]
    text = (hub.file(REPO, "README.md") or b"").decode()
    assert card_meta(text)["license"] == "mit"
    assert text.split("<!-- inference-tracker:leaderboard:")[0].endswith("# B's words\n\n")
    assert "dataset_info" in card_meta(text)
    assert_each_once(dataset_rows(hub), expected + cycle_rows(40))


def test_the_card_and_upgrades_give_up_after_repeated_conflicts(store: Store, hub: FakeHub) -> None:
    collect(store, 0, 1)
    hub.fail("commit", 412, times=None)
    with pytest.raises(PushError, match=r"^Hub refused the commit: 412 the dataset kept changing"):
        push(store, hub)
    assert pending_rows(store) == 4 and len(hub.calls("commit")) == 5


def test_a_leaderboard_that_cannot_be_built_never_holds_the_rows_back(
    store: Store, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The section is a view of the rows: the rows go, the section stays as it was, and the
    log says why."""
    from inference_tracker import publish

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("a bug in the leaderboard")

    expected = collect(store, 0, 1)
    monkeypatch.setattr(publish, "leaderboard_section", broken)
    log, stream = quiet_log()
    push_pending(store, target(hub), log, NOW, limits=FAST, clock=NO_WAIT)
    assert_each_once(dataset_rows(hub), expected)
    [warning] = [e for e in map(json.loads, stream.getvalue().splitlines())
                 if e["event"] == "leaderboard_not_built"]  # fmt: skip
    assert warning["error"] == "RuntimeError: a bug in the leaderboard"
    assert "inference-tracker:leaderboard" not in (hub.file(REPO, "README.md") or b"").decode()


def test_no_empty_card_is_written_where_there_was_none(
    store: Store, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be upgraded keeps the card from declaring our columns; with no card
    before and no leaderboard section to add, there is nothing to write."""
    from inference_tracker import publish

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("a bug in the leaderboard")

    monkeypatch.setattr(publish, "leaderboard_section", broken)
    torn = old_layout(cycle_rows(40), 21) + b"2026-11-27T13:25:00.000Z,torn\r\n"
    hub.commit_files(REPO, {"data/2026-11-27/old-probe-x.csv": torn})
    expected = collect(store, 0, 1)
    result = push(store, hub)
    assert hub.file(REPO, "README.md") is None
    assert (
        result.rows == len(expected) and hub.file(REPO, "data/2026-11-27/old-probe-x.csv") == torn
    )


def test_conflicting_commits_are_tried_again_after_growing_random_pauses(
    store: Store, hub: FakeHub
) -> None:
    """Probes that push in the same minute all change the card: a fixed rhythm would make them
    meet again at every attempt."""
    pauses: list[float] = []
    collect(store, 0, 1)
    hub.fail("commit", 412, times=None)
    roomy = HubLimits(total_seconds=600.0, request_seconds=5.0)  # every pause fits, however slow
    with pytest.raises(PushError):
        push(store, hub, limits=roomy, clock=Clock(sleep=pauses.append))
    assert len(pauses) == 4  # between the 5 attempts, none after the last
    assert all(0.5 * n <= pause <= 1.5 * n for n, pause in enumerate(pauses, 1)), pauses
    assert len(set(pauses)) == 4, pauses


def test_the_append_file_of_the_21_column_version_is_upgraded(store: Store, hub: FakeHub) -> None:
    old = cycle_rows(40) + cycle_rows(41)
    hub.commit_files(REPO, {APPEND: old_layout(old, 21)})
    expected = collect(store, 0, 1)

    push(store, hub, APPEND)

    data = hub.file(REPO, APPEND) or b""
    assert data == encode_rows(old + expected, header=True)
    meta = card_meta((hub.file(REPO, "README.md") or b"").decode())
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": APPEND}]
    assert [f["name"] for f in meta["dataset_info"]["features"]] == list(COLUMNS)


def test_an_append_file_already_holding_the_rows_is_still_upgraded(
    store: Store, hub: FakeHub
) -> None:
    """The 21-column version committed the rows, then was killed before archiving; the new
    version's push adds nothing, but the file still gets the new header."""
    expected = collect(store, 0, 1)
    hub.commit_files(REPO, {APPEND: old_layout(expected, 21)})

    result = push(store, hub, APPEND)

    assert result.duplicates == 4
    assert hub.file(REPO, APPEND) == encode_rows(expected, header=True)
    assert hub.history(REPO)[0].summary == "Upgrade the dataset (probe test-probe)"
    assert store.pending() == []


def test_other_files_of_the_append_layout_are_upgraded_too(store: Store, hub: FakeHub) -> None:
    template = "metrics-{date}.csv"
    yesterday = cycle_rows(0, providers=("groq",))
    for row in yesterday:
        row["cycle_timestamp_iso"] = "2026-11-26T10:00:00.000Z"
    hub.commit_files(REPO, {"metrics-2026-11-26.csv": old_layout(yesterday, 21)})
    expected = collect(store, 0, 1)

    push(store, hub, template)

    assert hub.file(REPO, "metrics-2026-11-26.csv") == encode_rows(yesterday, header=True)
    assert hub.file(REPO, "metrics-2026-11-27.csv") == encode_rows(expected, header=True)


def test_a_21_column_install_upgrades_without_losing_or_flagging_anything(
    tmp_path: Path, hub: FakeHub
) -> None:
    """A live install of the 21-column version: a buffer, a pending batch (a push that failed)
    and an archived one, all of 21 columns. After the upgrade nothing is lost or reported
    damaged, and the next push sends it all in the new layout."""
    from inference_tracker.store import batch_id_for

    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    store.ensure_dirs()
    archived, pending, buffered = cycle_rows(0), cycle_rows(1), cycle_rows(2)
    for folder, rows in ((store.archive_dir, archived), (store.pending_dir, pending)):
        data = old_layout(rows, 21)
        (folder / f"{batch_id_for(rows, data)}.csv").write_bytes(data)
    store.buffer_path.write_bytes(old_layout(buffered, 21))

    for path in (store.buffer_path, *store.pending_dir.iterdir(), *store.archive_dir.iterdir()):
        read = read_csv(path)
        assert read.problems == [] and len(read.rows) == 4, path
    snap = read_snapshot(store, now=NOW, hours=24)
    assert snap.problems == [] and len(snap.rows) == 12

    result = push(store, hub)

    assert result.rows == 8 and result.batches == 2
    assert_each_once(dataset_rows(hub), pending + buffered)  # every file: the new header
    assert store.pending() == [] and len(store.archived()) == 3
    snap = read_snapshot(store, now=NOW, hours=24)
    assert snap.problems == [] and len(snap.rows) == 12


def test_a_21_column_buffer_takes_new_rows_and_keeps_its_old_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    old = cycle_rows(0)
    store.ensure_dirs()
    store.buffer_path.write_bytes(old_layout(old, 21))
    new = cycle_rows(1)
    store.append_cycle(new, summary_of(new))
    read = store.buffer_rows()
    assert read.problems == [] and read.rows == old + new
    assert list(tmp_path.glob("metrics_buffer.csv.*")) == []  # nothing set aside


def test_a_500_on_commit_keeps_every_row_and_the_next_push_sends_them_once(
    store: Store, hub: FakeHub
) -> None:
    expected = collect(store, 0, 3)
    hub.fail("commit", 500)
    with pytest.raises(PushError) as failed:
        push(store, hub)
    assert str(failed.value) == (
        "Hub failed: 500 Internal Error - We're working hard to fix this as soon as possible!"
    )
    assert pending_rows(store) == 12 and store.archived() == []
    error = store.read_state().last_error
    assert error is not None
    assert error.where == "push" and error.message == str(failed.value)
    expected += collect(store, 3, 1)

    result = push(store, hub)

    assert result.rows == 16
    assert_each_once(dataset_rows(hub), expected)
    assert [s.status for s in hub.calls("commit")] == [500, 200]
    assert len(hub.history(REPO)) == 2


@pytest.mark.parametrize("template", [SHARDS, APPEND])
def test_a_commit_that_landed_but_whose_answer_was_lost_is_not_duplicated(
    store: Store, hub: FakeHub, template: str
) -> None:
    expected = collect(store, 0, 2)
    hub.fail("commit", 500, apply=True)
    with pytest.raises(PushError):
        push(store, hub, template)
    assert_each_once(dataset_rows(hub), expected)  # it did land
    commits = len(hub.history(REPO))

    push(store, hub, template)

    assert_each_once(dataset_rows(hub), expected)
    assert len(hub.history(REPO)) == commits  # identical content: nothing to commit
    assert store.pending() == []


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs."""


@pytest.mark.parametrize("template", [SHARDS, APPEND])
def test_killed_between_commit_and_cleanup_then_pushed_again(
    store: Store, hub: FakeHub, template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = collect(store, 0, 2)

    def killed(self: Store, *args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Store, "archive", killed)
        with pytest.raises(Killed):
            push(store, hub, template)
    assert pending_rows(store) == 8  # the commit landed, the local state did not move
    expected += collect(store, 2, 1)

    restarted = Store(store.buffer_path, store.state_dir)
    push(restarted, hub, template)

    assert_each_once(dataset_rows(hub), expected)
    assert restarted.pending() == [] and len(restarted.archived()) == 2


def test_a_collect_during_a_push_appends_to_a_fresh_buffer(store: Store, hub: FakeHub) -> None:
    first = collect(store, 0, 2)
    later: list[Row] = []
    hub.before("commit", lambda: later.extend(collect(store, 2, 1)))

    push(store, hub)

    assert_each_once(dataset_rows(hub), first)
    assert [r["cycle_timestamp_iso"] for r in store.buffer_rows().rows] == [
        r["cycle_timestamp_iso"] for r in later
    ]
    assert store.read_state().cycle_counter == 3
    push(store, hub)
    assert_each_once(dataset_rows(hub), first + later)


def test_a_second_push_during_a_push_waits_and_uploads_nothing_twice(
    store: Store, hub: FakeHub
) -> None:
    expected = collect(store, 0, 2)
    waiting = threading.Event()
    second = Store(store.buffer_path, store.state_dir, on_wait=lambda what: waiting.set())
    results: list[PushResult] = []
    thread = threading.Thread(target=lambda: results.append(push(second, hub)))

    def start_second_push() -> None:  # runs while the first push's commit is in flight
        thread.start()
        assert waiting.wait(10), "the second push should wait for the push lock"

    hub.before("commit", start_second_push)
    first = push(store, hub)
    thread.join(10)

    assert first.rows == 8 and results == [PushResult(0, 0, 0, None)]
    assert len(hub.calls("commit")) == 1
    assert_each_once(dataset_rows(hub), expected)


# --- refusals and outages: one clear line, nothing lost -----------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (
            lambda hub: setattr(hub, "tokens", {}),
            "Hub refused GET /api/datasets/me/inference-metrics/revision/main: 401 Invalid"
            " credentials in Authorization header (check HF_HUB_TOKEN)",
        ),
        (
            lambda hub: hub.fail("info", 403, body={"error": "Forbidden: gated"}),
            "Hub refused GET /api/datasets/me/inference-metrics/revision/main: 403 Forbidden:"
            " gated",
        ),
        (
            lambda hub: hub.fail("info", 429, times=None),
            "Hub busy at GET /api/datasets/me/inference-metrics/revision/main after retries:"
            " 429 You have exceeded our hourly quotas for action: commit. We invite you to"
            " retry later.",
        ),
        (
            lambda hub: setattr(hub, "tokens", {HUB_TOKEN: "read"}),
            "Hub refused the commit: 403 You don't have the rights to create a commit in this repository",
        ),
        (
            lambda hub: (hub.repos.clear(), hub.fail("create", 403)),
            "dataset me/inference-metrics does not exist at {url} and could not be created: 403"
            " You don't have the rights to create a commit in this repository (check"
            " HF_DATASET_REPO_ID and that HF_HUB_TOKEN may create datasets there)",
        ),
        (lambda hub: hub.fail("commit", 502), "Hub failed: 502 Bad Gateway"),
        (lambda hub: hub.fail("preupload", 503, times=None), "Hub failed: 503 Service Unavailable"),
        (
            lambda hub: hub.fail("commit", 429),
            "Hub refused the commit: 429 You have exceeded our hourly quotas for action: commit."
            " We invite you to retry later.",
        ),
        (
            lambda hub: hub.reset("commit"),
            "Hub connection failed at {url}: server disconnected without sending a response",
        ),
    ],
    ids=["401", "403", "404", "502", "503-after-retries", "429", "reset", "403-read", "429-read"],
)
def test_refusals_fail_with_one_line_and_keep_the_rows(
    store: Store, hub: FakeHub, arrange: object, message: str
) -> None:
    collect(store, 0, 2)
    arrange(hub)  # type: ignore[operator]
    with pytest.raises(PushError) as failed:
        push(store, hub)
    assert str(failed.value) == message.format(url=hub.url)
    assert "\n" not in str(failed.value)
    assert pending_rows(store) == 8
    assert store.read_state().last_error.message == str(failed.value)


def test_connection_refused_fails_fast(store: Store, pauses: list[float]) -> None:
    collect(store, 0, 1)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    log, _ = quiet_log()
    started = time.monotonic()
    with pytest.raises(PushError) as failed:
        push_pending(
            store,
            Destination(REPO, SHARDS, endpoint, HUB_TOKEN, "test-probe"),
            log,
            NOW,
            limits=FAST,
            clock=Clock(sleep=pauses.append),
        )
    assert str(failed.value) == f"Hub unreachable at {endpoint}: connection refused"
    assert time.monotonic() - started < 15 and pauses == []  # no 23 s of retries
    assert pending_rows(store) == 4


@pytest.mark.parametrize("endpoint", ["resolve", "preupload", "commit", "*"])
def test_a_hub_that_never_answers_fails_within_the_deadline(
    store: Store, hub: FakeHub, endpoint: str
) -> None:
    collect(store, 0, 1)
    hub.hang(endpoint)
    started = time.monotonic()
    with pytest.raises(PushError) as failed:
        push(store, hub, limits=HubLimits(total_seconds=1.0, request_seconds=0.3))
    assert time.monotonic() - started < 15  # the hub would hold it for 30 s
    assert str(failed.value).startswith(f"Hub unreachable at {hub.url}: no answer within ")
    assert pending_rows(store) == 4


def test_a_hub_that_trickles_its_answer_is_cut_at_the_deadline(
    store: Store, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers come at once, then a byte now and then: per-read timeouts never fire."""
    from tests.fakes import hub as fake_hub

    collect(store, 0, 1)
    original = fake_hub._Handler._send

    def trickle(self: fake_hub._Handler, answer: fake_hub.Answer) -> None:
        if self.command == "HEAD":
            original(self, answer)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            if self.hub._release.wait(0.1):
                return
            self.wfile.write(b" ")
            self.wfile.flush()

    monkeypatch.setattr(fake_hub._Handler, "_send", trickle)
    started = time.monotonic()
    with pytest.raises(PushError) as failed:
        push(store, hub, limits=HubLimits(total_seconds=1.0, request_seconds=0.5))
    assert time.monotonic() - started < 15  # the whole answer would take 100 s
    assert "no answer within" in str(failed.value)


def test_the_hub_only_ever_sees_hf_hub_token(
    store: Store, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", INFERENCE_TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", INFERENCE_TOKEN)
    collect(store, 0, 1)
    push(store, hub)
    assert hub.tokens_seen == {HUB_TOKEN}
    assert all(s.token == HUB_TOKEN for s in hub.requests)


def test_a_token_echoed_by_the_hub_is_scrubbed(store: Store, hub: FakeHub) -> None:
    collect(store, 0, 1)
    hub.fail("commit", 400, body={"error": f"bad request from {HUB_TOKEN}"})
    log, stream = quiet_log()
    with pytest.raises(PushError) as failed:
        push_pending(store, target(hub), log, NOW, limits=FAST, clock=NO_WAIT)
    assert HUB_TOKEN not in str(failed.value) and "[REDACTED]" in str(failed.value)
    assert HUB_TOKEN not in stream.getvalue()
    assert HUB_TOKEN.encode() not in store.state_file.read_bytes()


# --- append mode ----------------------------------------------------------------------------


def test_append_mode_over_several_pushes_keeps_one_header_and_every_row_once(
    store: Store, hub: FakeHub
) -> None:
    expected: list[Row] = []
    for push_number in range(3):
        expected += collect(store, 2 * push_number, 2)
        result = push(store, hub, APPEND)
        assert result.rows == 8 and result.files == 2  # + the card (its leaderboard section)
    data = hub.file(REPO, APPEND)
    assert data is not None
    header, records = parse_csv(data)
    assert tuple(header) == COLUMNS and len(records) == 24
    assert_each_once(dataset_rows(hub), expected)
    meta = card_meta((hub.file(REPO, "README.md") or b"").decode())
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": APPEND}]
    commits = [s for s in hub.calls("commit")]
    assert len(commits) == 3
    headers = [json.loads(s.body.splitlines()[0])["value"] for s in commits]
    assert all("parentCommit" in h for h in headers)  # a concurrent writer would be detected
    assert (
        hub.history(REPO)[0].summary
        == "Append 8 rows from 2 cycles to metrics.csv (probe test-probe)"
    )


def test_append_mode_retries_when_another_writer_commits_meanwhile(
    store: Store, hub: FakeHub
) -> None:
    expected = collect(store, 0, 1)
    push(store, hub, APPEND)
    expected += collect(store, 1, 1)
    hub.before("commit", lambda: hub.commit_files(REPO, {"notes.txt": b"another writer"}))

    push(store, hub, APPEND)

    assert [s.status for s in hub.calls("commit")] == [200, 412, 200]
    assert hub.file(REPO, "notes.txt") == b"another writer"
    assert_each_once(dataset_rows(hub), expected)


def test_append_mode_gives_up_after_repeated_conflicts(store: Store, hub: FakeHub) -> None:
    collect(store, 0, 1)
    hub.fail("commit", 412, times=None)
    with pytest.raises(PushError, match=r"^Hub refused the commit: 412 the dataset kept changing"):
        push(store, hub, APPEND)
    assert pending_rows(store) == 4


def test_append_mode_adds_under_the_seed_file_without_losing_it(store: Store, hub: FakeHub) -> None:
    seed_header = ",".join(COLUMNS[:14])
    seed = f"{seed_header}\n2025-01-01T00:00:00.000Z,old/model,groq,x,u,b,h,s,e,1,200,body,rh,\n"
    hub.commit_files(REPO, {APPEND: seed.encode()})
    expected = collect(store, 0, 1)
    push(store, hub, APPEND)
    rows = dataset_rows(hub)
    assert rows[0]["model_id"] == "old/model" and rows[0]["probe_id"] == ""
    assert_each_once(rows[1:], expected)


# --- merging (append mode's core), pure ------------------------------------------------------


def test_merge_adds_rows_under_the_existing_ones_without_a_second_header() -> None:
    old, new = cycle_rows(0), cycle_rows(1)
    merged, added, skipped = merge_csv(encode_rows(old, header=True), new, APPEND)
    assert merged == encode_rows(old, header=True) + encode_rows(new, header=False)
    assert (added, skipped) == (4, 0)


def test_merge_skips_rows_already_there_and_copes_with_a_missing_final_newline() -> None:
    old = cycle_rows(0)
    existing = encode_rows(old, header=True).rstrip(b"\r\n")
    merged, added, skipped = merge_csv(existing, old + cycle_rows(1), APPEND)
    assert (added, skipped) == (4, 4)
    assert merged == existing + b"\r\n" + encode_rows(cycle_rows(1), header=False)
    again, added, skipped = merge_csv(merged, old, APPEND)
    assert (again, added, skipped) == (merged, 0, 4)


def test_merge_starts_a_new_file_with_the_header() -> None:
    merged, added, skipped = merge_csv(None, cycle_rows(0), APPEND)
    assert merged == encode_rows(cycle_rows(0), header=True) and (added, skipped) == (4, 0)


def test_merge_refuses_a_file_of_another_layout() -> None:
    with pytest.raises(LayoutError, match=r"^metrics.csv on the Hub has other columns"):
        merge_csv(b"a,b,c\n1,2,3\n", cycle_rows(0), APPEND)


# --- the import rule ------------------------------------------------------------------------


def test_only_hub_imports_huggingface_hub_and_only_public_names() -> None:
    """hub.py is the one door to the Hub, through public names (a private import breaks on any
    minor release); every other module imports hub.py only inside functions."""
    package = Path(__file__).parents[1] / "inference_tracker"
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
                if (node.module or "").startswith("huggingface_hub"):
                    assert not any(a.name.startswith("_") for a in node.names), path.name
            else:
                continue
            for module in modules:
                if module.split(".")[0] in ("huggingface_hub", "httpx2"):
                    assert path.name == "hub.py", f"{path.name} imports {module}"
                    assert not any(part.startswith("_") for part in module.split(".")), module
        if path.name != "hub.py":
            for node in tree.body:  # the module level
                if isinstance(node, ast.ImportFrom):
                    assert node.module != "inference_tracker.hub", f"{path.name} imports hub"


def test_importing_the_cli_does_not_load_huggingface_hub() -> None:
    code = (
        "import sys, inference_tracker.cli, inference_tracker.publish, inference_tracker.report;"
        "print('huggingface_hub' in sys.modules, 'httpx2' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False False"


def test_the_fake_hub_runs_standalone_for_subprocess_tests() -> None:
    import requests

    root = Path(__file__).parents[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.hub", "--repo", REPO, "--token", HUB_TOKEN],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        fault = {"endpoint": "commit", "status": 503, "times": 1}
        assert requests.post(f"{url}/_fake/fault", json=fault, timeout=10).json() == {"ok": True}
        state = requests.get(f"{url}/_fake/state", timeout=10).json()
        assert list(state["repos"]) == [f"dataset/{REPO}"]
        assert list(state["repos"][f"dataset/{REPO}"]["files"]) == [".gitattributes"]
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
