"""metrics.py: the Prometheus textfile for node_exporter's textfile collector."""

from __future__ import annotations

import math
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from inference_tracker.errors import StoreError
from inference_tracker.metrics import METRIC_NAMES, TrackerFacts, write_textfile
from inference_tracker.record import COLUMNS, Row, iso_ms
from inference_tracker.states import STATES, ProviderState, Thresholds, provider_states

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LAST_CYCLE = NOW - timedelta(minutes=5)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def make_row(
    provider: str = "groq",
    *,
    at: datetime = LAST_CYCLE,
    error_class: str = "ok",
    duration_ms: str = "1000.0",
    ttft_ms: str = "",
    tokens_per_s: str = "",
    answer_correct: str = "true",
    model: str = "org/m",
    status: str = "",
) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        cycle_timestamp_iso=iso_ms(at),
        model_id=model,
        provider_name=provider,
        duration_ms=duration_ms,
        error_class=error_class,
        response_status_code=status or ("200" if error_class == "ok" else "-1"),
        answer_correct=answer_correct,
        streamed="true" if ttft_ms else "",
        ttft_ms=ttft_ms,
        output_tokens_per_s=tokens_per_s,
    )
    return row


def state(provider: str, name: str, **more: float | None) -> ProviderState:
    uptimes: dict[str, float | None] = {"uptime_1h": None, "uptime_24h": None, "uptime_7d": None}
    uptimes.update(more)
    since = None if name == "unknown" else iso_ms(LAST_CYCLE)
    return ProviderState(provider, name, since, "why", **uptimes)


def read_samples(path: Path) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, key
            samples[key] = sample.value
    return samples


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


FACTS = TrackerFacts(
    last_cycle_started=LAST_CYCLE,
    last_cycle_duration_s=42.5,
    rows_buffered=17,
    rows_pending=3,
    last_push_at=NOW - timedelta(hours=1),
    oldest_unpushed=NOW - timedelta(minutes=50),
)


def test_the_tracker_facts(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=[], states={}, tracker=FACTS, now=NOW)
    samples = read_samples(path)
    assert samples == {
        ("inference_tracker_last_cycle_timestamp_seconds", labels()): LAST_CYCLE.timestamp(),
        ("inference_tracker_last_cycle_duration_seconds", labels()): 42.5,
        ("inference_tracker_rows_buffered", labels()): 17.0,
        ("inference_tracker_rows_pending", labels()): 3.0,
        ("inference_tracker_last_push_timestamp_seconds", labels()): (
            NOW - timedelta(hours=1)
        ).timestamp(),
        ("inference_tracker_oldest_unpushed_timestamp_seconds", labels()): (
            NOW - timedelta(minutes=50)
        ).timestamp(),
    }


def test_unknown_tracker_facts_are_not_exported(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=[], states={}, tracker=TrackerFacts(), now=NOW)
    assert set(read_samples(path)) == {
        ("inference_tracker_rows_buffered", labels()),
        ("inference_tracker_rows_pending", labels()),
    }
    assert "NaN" not in path.read_text()


def test_state_is_one_hot_with_since(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    states = {"groq": state("groq", "degraded"), "sambanova": state("sambanova", "unknown")}
    write_textfile(path, rows=[], states=states, tracker=FACTS, now=NOW)
    samples = read_samples(path)
    for provider, current in (("groq", "degraded"), ("sambanova", "unknown")):
        for name in ("up", "degraded", "down", "unknown"):
            key = ("inference_tracker_provider_state", labels(provider=provider, state=name))
            assert samples[key] == (1.0 if name == current else 0.0)
    since = ("inference_tracker_provider_state_since_timestamp_seconds", labels(provider="groq"))
    assert samples[since] == LAST_CYCLE.timestamp()
    unknown_since = since[0], labels(provider="sambanova")
    assert unknown_since not in samples


def test_uptime_per_window_and_none_left_out(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    states = {"groq": state("groq", "up", uptime_1h=0.5, uptime_24h=None, uptime_7d=0.99)}
    write_textfile(path, rows=[], states=states, tracker=FACTS, now=NOW)
    samples = read_samples(path)
    uptime = {
        dict(key[1])["window"]: value
        for key, value in samples.items()
        if key[0] == "inference_tracker_provider_uptime_ratio"
    }
    assert uptime == {"1h": 0.5, "7d": 0.99}


def test_latency_speed_and_answers_over_the_last_hour(tmp_path: Path) -> None:
    rows = [
        make_row(duration_ms=f"{ms}.0", ttft_ms=f"{ms // 10}.0", tokens_per_s=f"{tps}.0")
        for ms, tps in zip(range(1000, 3000, 100), range(20, 40), strict=True)
    ]  # 20 successful streamed calls: durations 1000..2900 ms, TTFT 100..290 ms
    rows.append(make_row(error_class="timeout", duration_ms="60000.0", answer_correct=""))
    rows.append(make_row(answer_correct="false", duration_ms="1000.0"))  # not streamed
    rows.append(make_row(at=NOW - timedelta(hours=2), duration_ms="99999.0"))  # too old
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=rows, states={}, tracker=FACTS, now=NOW)
    samples = read_samples(path)
    groq = {"provider": "groq"}
    assert (
        samples[("inference_tracker_provider_duration_seconds", labels(**groq, quantile="0.5"))]
        == 1.9
    )
    assert (
        samples[("inference_tracker_provider_duration_seconds", labels(**groq, quantile="0.95"))]
        == 2.8
    )
    assert (
        samples[("inference_tracker_provider_ttft_seconds", labels(**groq, quantile="0.5"))] == 0.19
    )
    assert (
        samples[("inference_tracker_provider_ttft_seconds", labels(**groq, quantile="0.95"))]
        == 0.28
    )
    assert samples[("inference_tracker_provider_output_tokens_per_second", labels(**groq))] == 29.0
    assert samples[("inference_tracker_provider_answer_correct_ratio", labels(**groq))] == 20 / 21


def test_no_successful_call_exports_no_latency(tmp_path: Path) -> None:
    rows = [make_row(error_class="timeout", answer_correct="") for _ in range(3)]
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=rows, states={}, tracker=FACTS, now=NOW)
    names = {name for name, _ in read_samples(path)}
    assert "inference_tracker_provider_duration_seconds" not in names
    assert "inference_tracker_provider_ttft_seconds" not in names
    assert "inference_tracker_provider_output_tokens_per_second" not in names
    assert "inference_tracker_provider_answer_correct_ratio" not in names


def test_last_cycle_calls_by_error_class(tmp_path: Path) -> None:
    last = [
        make_row(model="org/a"),
        make_row(model="org/b"),
        make_row(model="org/c", error_class="timeout"),
        make_row(model="org/d", error_class="http_error", status="429"),
        make_row("hf-inference", error_class="unmapped_provider"),  # no call was made
        make_row("together", error_class="connection_error"),
    ]
    path = tmp_path / "tracker.prom"
    facts = TrackerFacts(rows_buffered=6, last_cycle_rows=last)
    write_textfile(path, rows=last, states={}, tracker=facts, now=NOW)
    calls = {
        tuple(sorted(dict(key[1]).items())): value
        for key, value in read_samples(path).items()
        if key[0] == "inference_tracker_provider_last_cycle_calls"
    }
    assert calls[(("error_class", "ok"), ("provider", "groq"))] == 2
    assert calls[(("error_class", "timeout"), ("provider", "groq"))] == 1
    assert calls[(("error_class", "http_error"), ("provider", "groq"))] == 1
    assert calls[(("error_class", "deadline"), ("provider", "groq"))] == 0  # known: zero
    assert calls[(("error_class", "connection_error"), ("provider", "together"))] == 1
    assert calls[(("error_class", "ok"), ("provider", "together"))] == 0
    assert not any(dict(key)["provider"] == "hf-inference" for key in calls)
    assert not any(dict(key)["error_class"] == "unmapped_provider" for key in calls)


def test_every_name_is_valid_and_declared(tmp_path: Path) -> None:
    rows = [make_row(ttft_ms="100.0", tokens_per_s="50.0") for _ in range(6)]
    states = provider_states(rows, now=NOW, thresholds=Thresholds())
    path = tmp_path / "tracker.prom"
    write_textfile(
        path,
        rows=rows,
        states=states,
        tracker=TrackerFacts(
            last_cycle_started=LAST_CYCLE,
            last_cycle_duration_s=1.0,
            last_push_at=NOW,
            oldest_unpushed=LAST_CYCLE,
            last_cycle_rows=rows,
        ),
        now=NOW,
    )
    names = {name for name, _ in read_samples(path)}
    assert names == set(METRIC_NAMES)  # every metric is exported by this full example
    for name in names:
        assert NAME.fullmatch(name), name
        assert name.startswith("inference_tracker_")
        assert not name.endswith("_total")
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            for label in sample.labels:
                assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label), label
            assert math.isfinite(sample.value)


def test_odd_provider_names_survive_as_label_values(tmp_path: Path) -> None:
    odd = 'we"ird\\name\nnext'
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=[], states={odd: state(odd, "up")}, tracker=FACTS, now=NOW)
    key = ("inference_tracker_provider_state", labels(provider=odd, state="up"))
    assert read_samples(path)[key] == 1.0


# --- writing ---------------------------------------------------------------------------------------


def test_rewriting_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    for buffered in range(3):
        facts = TrackerFacts(rows_buffered=buffered)
        write_textfile(path, rows=[], states={}, tracker=facts, now=NOW)
    assert os.listdir(tmp_path) == ["tracker.prom"]
    assert read_samples(path)[("inference_tracker_rows_buffered", labels())] == 2.0


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tracker.prom"
    # Two versions of very different sizes: a torn or truncated file would show.
    big = {f"provider-{i:03d}": state(f"provider-{i:03d}", "up", uptime_1h=0.9) for i in range(20)}
    versions = [({}, TrackerFacts(rows_buffered=1)), (big, TrackerFacts(rows_buffered=2))]
    write_textfile(path, rows=[], states={}, tracker=versions[0][1], now=NOW)
    expected = set()
    for states, facts in versions:  # the two files as written alone
        write_textfile(path, rows=[], states=states, tracker=facts, now=NOW)
        expected.add(path.read_text())
    done = threading.Event()
    failures: list[BaseException] = []

    def rewrite() -> None:
        try:
            for i in range(60):
                states, facts = versions[i % 2]
                write_textfile(path, rows=[], states=states, tracker=facts, now=NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    reads = 0
    while not done.is_set() or reads < 10:
        text = path.read_text()
        assert text in expected
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "inference_tracker_rows_buffered" in names
        assert "inference_tracker_rows_pending" in names
        reads += 1
    writer.join()
    assert not failures
    assert reads >= 10


def test_a_missing_folder_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "tracker.prom"
    with pytest.raises(StoreError) as caught:
        write_textfile(path, rows=[], states={}, tracker=FACTS, now=NOW)
    message = str(caught.value)
    assert message == f"cannot write PROMETHEUS_TEXTFILE {path}: No such file or directory"
    assert "\n" not in message


def test_a_folder_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "tracker.prom"
    with pytest.raises(StoreError, match=r"^cannot write PROMETHEUS_TEXTFILE .*: Not a directory$"):
        write_textfile(path, rows=[], states={}, tracker=FACTS, now=NOW)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_folder_not_writable_is_one_clear_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    path = folder / "tracker.prom"
    write_textfile(path, rows=[], states={}, tracker=FACTS, now=NOW)
    before = path.read_bytes()
    folder.chmod(0o500)
    try:
        with pytest.raises(
            StoreError, match=r"^cannot write PROMETHEUS_TEXTFILE .*: permission denied$"
        ):
            write_textfile(path, rows=[], states={}, tracker=TrackerFacts(), now=NOW)
    finally:
        folder.chmod(0o700)
    assert path.read_bytes() == before
    assert os.listdir(folder) == ["tracker.prom"]


# --- the example alert rules ------------------------------------------------------------------

ALERTS = Path(__file__).parents[1] / "examples" / "alerts.yml"


def alert_rules() -> dict[str, dict[str, object]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    return {rule["alert"]: rule for rule in rules}


def test_alert_rules_name_only_exported_metrics() -> None:
    rules = alert_rules()
    assert rules
    for name, rule in rules.items():
        expr = str(rule["expr"])
        used = re.findall(r"\binference_tracker_[a-zA-Z0-9_]*", expr)
        assert used, name
        for metric in used:
            assert metric in METRIC_NAMES, (name, metric)
        for state_name in re.findall(r'state="([^"]*)"', expr):
            assert state_name in STATES, (name, state_name)
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), name
        assert isinstance(rule["labels"], dict)
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert isinstance(rule["annotations"], dict)
        assert rule["annotations"]["summary"], name


def test_the_alerts_the_issue_asks_for() -> None:
    rules = alert_rules()
    down = rules["InferenceProviderDown"]
    assert down["expr"] == 'inference_tracker_provider_state{state="down"} == 1'
    assert down["for"] == "15m"
    stale = rules["InferenceTrackerStale"]
    assert stale["expr"] == "time() - inference_tracker_last_cycle_timestamp_seconds > 900"
    push = str(rules["InferenceTrackerPushFailing"]["expr"]).strip()
    # rows waiting for 4 push intervals, buffered or pending, pushed before or never
    assert push == "time() - inference_tracker_oldest_unpushed_timestamp_seconds > 7200"


# --- written by collect --------------------------------------------------------------------------


def test_collect_writes_the_textfile_after_every_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.fakes.router import FakeRouter, World, listing
    from tests.helpers import run_cli

    target = tmp_path / "metrics" / "tracker.prom"
    target.parent.mkdir()
    with FakeRouter(World(listing=listing({"org/m": ["groq", "down"]}),
                          behaviours={"down": {"kind": "status", "status": 503}})) as router:  # fmt: skip
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        monkeypatch.setenv("HF_TOKEN", "hf_" + "Pr0m" * 9)
        monkeypatch.setenv("MAX_RETRIES", "0")
        monkeypatch.setenv("PROMETHEUS_TEXTFILE", str(target))
        for _ in range(3):
            assert run_cli("collect", "--no-push").exit_code == 0
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(target.read_text())
        for s in family.samples
    }
    assert (
        samples[("inference_tracker_provider_state", (("provider", "down"), ("state", "down")))]
        == 1
    )
    assert (
        samples[("inference_tracker_provider_state", (("provider", "groq"), ("state", "up")))] == 1
    )
    assert samples[("inference_tracker_rows_buffered", ())] == 6
    calls = (
        "inference_tracker_provider_last_cycle_calls",
        (("error_class", "http_error"), ("provider", "down")),
    )
    assert samples[calls] == 1


def test_rows_waiting_for_a_push_are_dated_whether_sealed_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push that cannot even start (HF_HUB_TOKEN missing) leaves the rows in the buffer,
    never pending: the push alert must still see them wait."""
    from prometheus_client.parser import text_string_to_metric_families

    from inference_tracker.csvfile import read_csv
    from inference_tracker.record import parse_iso
    from tests.fakes.router import FakeRouter, World, listing
    from tests.helpers import run_cli

    target = tmp_path / "tracker.prom"
    with FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router:
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        monkeypatch.setenv("HF_TOKEN", "hf_" + "Pr0m" * 9)
        monkeypatch.setenv("PROMETHEUS_TEXTFILE", str(target))
        monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
        monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
        for _ in range(2):
            assert run_cli("collect").exit_code == 3  # the push cannot start
    first = min(
        row["cycle_timestamp_iso"] for row in read_csv(tmp_path / "metrics_buffer.csv").rows
    )
    samples = {s.name: s.value for f in text_string_to_metric_families(target.read_text())
               for s in f.samples if not s.labels}  # fmt: skip
    assert samples["inference_tracker_rows_pending"] == 0
    waiting = samples["inference_tracker_oldest_unpushed_timestamp_seconds"]
    assert waiting == pytest.approx(parse_iso(first).timestamp(), abs=0.001)
    monkeypatch.delenv("HF_DATASET_REPO_ID")  # no dataset: rows stay local by design
    with FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router:
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        assert run_cli("collect", "--no-push").exit_code == 0
    assert "oldest_unpushed" not in target.read_text()


def test_a_chained_push_that_lands_is_in_the_textfile_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.fakes.hub import FakeHub
    from tests.fakes.router import FakeRouter, World, listing
    from tests.helpers import run_cli
    from tests.hub_helpers import HUB_TOKEN, REPO, fake_pauses

    fake_pauses(monkeypatch)
    target = tmp_path / "tracker.prom"
    with (
        FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router,
        FakeHub(tokens={HUB_TOKEN: "write"}) as hub,
    ):
        hub.create_repo(REPO)
        for name, value in {
            "MODELS_API_URL": router.listing_url, "ROUTER_BASE_URL": router.url,
            "HF_TOKEN": "hf_" + "Pr0m" * 9, "PROMETHEUS_TEXTFILE": str(target),
            "PUSH_INTERVAL_CYCLES": "1", "HF_DATASET_REPO_ID": REPO,
            "HF_HUB_TOKEN": HUB_TOKEN, "HF_ENDPOINT": hub.url,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        assert run_cli("collect").exit_code == 0
    samples = {s.name: s.value for f in text_string_to_metric_families(target.read_text())
               for s in f.samples if not s.labels}  # fmt: skip
    assert samples["inference_tracker_rows_buffered"] == 0
    assert samples["inference_tracker_rows_pending"] == 0
    assert "inference_tracker_last_push_timestamp_seconds" in samples
    assert "inference_tracker_oldest_unpushed_timestamp_seconds" not in samples


def test_a_textfile_that_cannot_be_written_is_a_warning_not_a_failed_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.router import FakeRouter, World, listing
    from tests.helpers import run_cli

    (tmp_path / "blocker").write_text("")
    with FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router:
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        monkeypatch.setenv("HF_TOKEN", "hf_" + "Pr0m" * 9)
        monkeypatch.setenv("PROMETHEUS_TEXTFILE", str(tmp_path / "blocker" / "x.prom"))
        result = run_cli("collect", "--no-push")
    assert result.exit_code == 0
    assert '"event": "metrics_not_written"' in result.stderr


def test_a_bug_while_writing_the_textfile_is_a_warning_and_the_push_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are stored before the textfile is written: whatever goes wrong there, collect
    neither reports an internal error nor skips the push that is due."""
    from inference_tracker import metrics
    from tests.fakes.router import FakeRouter, World, listing
    from tests.helpers import run_cli

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the metrics")

    monkeypatch.setattr(metrics, "write_metrics", broken)
    with FakeRouter(World(listing=listing({"org/m": ["groq"]}))) as router:
        monkeypatch.setenv("MODELS_API_URL", router.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", router.url)
        monkeypatch.setenv("HF_TOKEN", "hf_" + "Pr0m" * 9)
        monkeypatch.setenv("PROMETHEUS_TEXTFILE", str(tmp_path / "x.prom"))
        monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "1")
        monkeypatch.delenv("HF_HUB_TOKEN", raising=False)
        result = run_cli("collect")
    assert result.exit_code == 3  # the push was tried (and failed: no HF_HUB_TOKEN)
    [warning] = [line for line in result.stderr.splitlines() if "metrics_not_written" in line]
    assert "RuntimeError: a bug in the metrics" in warning
    assert "internal_error" not in result.stderr


def test_seconds_carry_no_float_noise(tmp_path: Path) -> None:
    """5.1 ms / 1000 is 0.0050999999999999995 in floats: the file must say 0.0051."""
    rows = [make_row(duration_ms="5.1", ttft_ms="5.1", tokens_per_s="50.0") for _ in range(6)]
    path = tmp_path / "tracker.prom"
    write_textfile(path, rows=rows, states={}, tracker=FACTS, now=NOW)
    text = path.read_text()
    assert (
        'inference_tracker_provider_duration_seconds{provider="groq",quantile="0.5"} 0.0051' in text
    )
    assert "0.00509999" not in text
