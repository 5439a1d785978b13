from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import cli
from tests.fakes.router import FakeRouter, World, listing
from tests.helpers import ShiftedClock, error_of, run_cli

TOKEN = "hf_" + "d" * 34
PAIRS = {
    "org/alpha": ["groq", "novita", "newco"],
    "org/beta": ["together", "hf-inference"],
}


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    with FakeRouter(World(listing=listing(PAIRS))) as fake:
        monkeypatch.setenv("MODELS_API_URL", fake.listing_url)
        monkeypatch.setenv("ROUTER_BASE_URL", "https://router.test")
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield fake


def test_dry_run_prints_one_json_object_per_planned_call(
    router: FakeRouter, tmp_path: Path
) -> None:
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 0, result.stderr
    plans = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(p["model_id"], p["provider_name"]) for p in plans] == [
        ("org/alpha", "groq"),
        ("org/alpha", "novita"),
        ("org/alpha", "newco"),
        ("org/beta", "together"),
        ("org/beta", "hf-inference"),
    ]
    groq = plans[0]
    assert groq == {
        "model_id": "org/alpha",
        "provider_name": "groq",
        "provider_model_id": "groq/alpha",
        "request_url": "https://router.test/groq/openai/v1/chat/completions",
        "request_body": {
            "messages": [{"role": "user", "content": "Solve this: 123/2*3.2*9"}],
            "max_tokens": 512,
            "model": "groq/alpha",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "worst_case_cost_usd": None,  # the fake router has no catalog, the listing no prices
    }
    assert plans[2]["request_url"] == "https://router.test/v1/chat/completions"
    assert plans[2]["request_body"]["model"] == "org/alpha:newco"
    assert (
        plans[4]["request_url"]
        == "https://router.test/hf-inference/models/hf-inference/beta/v1/chat/completions"
    )


def test_dry_run_calls_nothing_writes_nothing_and_prints_no_token(
    router: FakeRouter, tmp_path: Path
) -> None:
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 0
    assert router.seen == []  # no inference request
    assert list(tmp_path.iterdir()) == []  # no buffer, no state folder
    assert TOKEN not in result.stdout + result.stderr


def test_dry_run_works_without_a_token_and_warns(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 0
    [warning] = [json.loads(line) for line in result.stderr.splitlines() if "no_token" in line]
    assert warning["detail"] == "HF_TOKEN is not set: a real collect would fail"


def test_dry_run_from_a_models_file(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path.parent / f"{tmp_path.name}-models.json"
    saved.write_text(json.dumps(listing({"org/gamma": ["cerebras"]})))
    monkeypatch.setenv("MODELS_API_URL", "http://127.0.0.1:9/never")
    result = run_cli("collect", "--dry-run", "--models-file", str(saved))
    assert result.exit_code == 0, result.stderr
    [plan] = [json.loads(line) for line in result.stdout.splitlines()]
    assert plan["request_url"] == "https://router.test/cerebras/v1/chat/completions"


def test_logs_go_to_stderr_as_json_lines(router: FakeRouter) -> None:
    result = run_cli("collect", "--dry-run")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"ts", "level", "event"} <= set(events[0])
    fetched = next(e for e in events if e["event"] == "models_fetched")
    assert fetched["count"] == 2 and fetched["ids"] == ["org/alpha", "org/beta"]
    assert any(e["event"] == "unmapped_providers" and e["providers"] == ["newco"] for e in events)


@pytest.mark.parametrize(
    "world, message",
    [
        (World(listing_raw=b"<html>oops</html>"), "is HTML, not JSON"),
        (World(listing_raw=b'{"models": [{"id"'), "is not valid JSON"),
        (World(listing_raw=b'{"data": []}'), "has no 'models' key"),
        (World(listing_status=503), "answered HTTP 503"),
    ],
)
def test_listing_failures_exit_1_with_one_line(
    world: World, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "CLOCK", ShiftedClock().clock())  # a 503 is retried
    with FakeRouter(world) as fake:
        monkeypatch.setenv("MODELS_API_URL", fake.listing_url)
        result = run_cli("collect", "--dry-run")
    assert result.exit_code == 1
    assert message in error_of(result)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unreachable_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ShiftedClock()
    monkeypatch.setattr(cli, "CLOCK", clock.clock())
    monkeypatch.setenv("MODELS_API_URL", "http://127.0.0.1:9/models-json")
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 1
    assert error_of(result) == (
        "model listing unreachable at http://127.0.0.1:9/models-json: connection refused"
    )
    assert clock.pauses == [1.0, 3.0]  # tried MAX_RETRIES (2) more times first


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "MODELS_TO_FETCH",
            "abc",
            "invalid setting MODELS_TO_FETCH: Input should be a valid integer",
        ),
        ("PUSH_INTERVAL_CYCLES", "0", "invalid setting PUSH_INTERVAL_CYCLES"),
        (
            "PROVIDER_ENDPOINT_MAPPING_PATH",
            "/nonexistent/p.toml",
            "PROVIDER_ENDPOINT_MAPPING_PATH /nonexistent/p.toml: file not found",
        ),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELS_API_URL", "http://127.0.0.1:9/never")
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 2
    assert error_of(result).startswith(expected)
    assert "Traceback" not in result.stderr


def test_malformed_mapping_file_exits_2_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "providers.toml"
    bad.write_text("[routes]\ngroq = '/groq'\n[routes\n")
    monkeypatch.setenv("PROVIDER_ENDPOINT_MAPPING_PATH", str(bad))
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 2
    assert f"PROVIDER_ENDPOINT_MAPPING_PATH {bad}: malformed TOML" in error_of(result)
    assert "line 3" in result.stderr


def test_secret_in_a_bad_setting_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("MAX_RETRIES", TOKEN)
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 2
    assert TOKEN not in result.stderr


def test_collect_without_token_is_a_config_error(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 2
    assert "HF_TOKEN is not set" in error_of(result)


def test_help_on_every_command() -> None:
    for command in ([], ["collect"], ["push"], ["check"], ["status"]):
        result = run_cli(*command, "--help")
        assert result.exit_code == 0
        assert "Usage" in result.stdout
        if command:
            assert "Exit" in result.stdout or "exit" in result.stdout, command


def test_the_command_list_is_not_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    listed = run_cli("--help").stdout.split("Commands:")[1].split("\n\n")[0]
    assert "..." not in listed
    assert [line.split()[0] for line in listed.strip().splitlines()] == [
        "collect",
        "push",
        "check",
        "status",
    ]


def test_python_dash_m_and_terminal_table(router: FakeRouter, tmp_path: Path) -> None:
    """On a terminal the plan is a table; `python -m inference_tracker` is the same program."""
    env = {**os.environ, "COLUMNS": "200"}
    leader, follower = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "inference_tracker", "collect", "--dry-run"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    text = out.decode()
    assert proc.returncode == 0, proc.stderr
    assert "4 calls planned, 1 pair skipped" not in text  # this listing has no skipped pair
    assert "5 calls planned, 0 pairs skipped (no call)" in text and "groq/alpha" in text
    assert not text.lstrip().startswith("{")
    assert TOKEN not in text


def test_a_reader_that_goes_away_is_not_an_error(router: FakeRouter, tmp_path: Path) -> None:
    """`tracker collect --dry-run | head -1`: no traceback, no internal error."""
    router.world.listing = listing({f"org/m{i}": ["groq", "together"] for i in range(500)})
    env = {**os.environ, "MODELS_TO_FETCH": "500"}  # far more than a pipe buffer holds
    proc = subprocess.run(
        ["/bin/sh", "-c", f"{sys.executable} -m inference_tracker collect --dry-run | head -1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr


def test_the_plan_table_reads_at_80_columns() -> None:
    """One line per call, never wider than 80; ids end in an ellipsis, never break mid-word;
    the base URL once, the route per row, the body's model only where it is not the
    providerId; calls and skipped pairs counted apart."""
    from inference_tracker.record import Call
    from inference_tracker.render import render_plan

    base = "https://router.huggingface.co"

    def call(model: str, provider: str, pid: str, route: str, sent: str, skip: str = "") -> Call:
        body = json.dumps({"messages": [], "max_tokens": 512, "model": sent, "stream": False})
        return Call(model, provider, pid, base + route if route else "", body, {}, skip)

    long_model = "Qwen/Qwen3-Coder-480B-A35B-Instruct-With-A-Very-Long-Name"
    calls = [
        call(long_model, "fireworks-ai", "accounts/fireworks/models/qwen3-coder-480b-a35b",
             "/fireworks-ai/inference/v1/chat/completions", "accounts/fireworks/models/qwen3-coder-480b-a35b"),
        call(long_model, "newco", long_model, "/v1/chat/completions", f"{long_model}:newco"),
        call("org/small", "groq", "small", "/groq/openai/v1/chat/completions", "small"),
        call("org/small", "fal-ai", "small", "", "org/small:fal-ai", "fal-ai: image and video"),
    ]  # fmt: skip
    text = render_plan(calls, table=True, base_url=base, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert " ".join(lines).startswith("3 calls planned, 1 pair skipped (no call); routes under")
    assert text.count(base) == 1
    assert long_model in lines and "org/small" in lines  # each model once, on its own line
    values = [long_model, "org/small", "small", "groq", "newco", "fireworks-ai", "fal-ai",
              "<model>:newco", "/groq/openai/v1/chat/completions", "/v1/chat/completions",
              "accounts/fireworks/models/qwen3-coder-480b-a35b", "(not called)",
              "/fireworks-ai/inference/v1/chat/completions", "provider", "providerId",
              "route", "body model"]  # fmt: skip
    for row in lines[lines.index(long_model) - 1 : lines.index(long_model) + 6]:
        for word in row.split():
            whole = any(word in value.split() for value in values)
            cut = word.endswith("…") and any(v.startswith(word[:-1]) for v in values)
            assert whole or cut, (word, row)  # never broken mid-word onto the next line
    assert "<model>:newco" in text  # the body's model, only where it is not the providerId
    assert "Not called: org/small on fal-ai: image and video" in " ".join(lines)


def test_dry_run_prints_the_worst_case_cost_of_a_cycle_and_a_day(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At each pair's prices: the prompt (about 4 characters a token) and MAX_TOKENS_DEFAULT
    output tokens; a pair without a price is counted and named as unknown."""
    from tests.fakes.router import catalog

    monkeypatch.setenv("ROUTER_BASE_URL", router.url)
    monkeypatch.setenv("PROMPT", "x" * 40)  # 10 tokens
    monkeypatch.setenv("MAX_TOKENS_DEFAULT", "1000")
    monkeypatch.setenv("SCHEDULE_INTERVAL_SECONDS", "600")
    prices = {"status": "live", "pricing": {"input": 1.0, "output": 2.0}}
    router.world.catalog = catalog(
        {("org/alpha", "groq"): prices, ("org/beta", "together"): prices}
    )
    result = run_cli("collect", "--dry-run")
    assert result.exit_code == 0, result.stderr
    plans = {
        (p["model_id"], p["provider_name"]): p for p in map(json.loads, result.stdout.splitlines())
    }
    each = (10 * 1.0 + 1000 * 2.0) / 1e6
    assert plans[("org/alpha", "groq")]["worst_case_cost_usd"] == pytest.approx(each)
    assert plans[("org/alpha", "novita")]["worst_case_cost_usd"] is None
    [said] = [json.loads(line) for line in result.stderr.splitlines() if "worst_case_cost" in line]
    assert said["cycle_usd"] == pytest.approx(2 * each)
    assert said["day_usd"] == pytest.approx(2 * each * 144, rel=1e-3)  # 144 cycles a day
    assert sorted(said["unpriced"]) == ["hf-inference (org/beta)", "newco (org/alpha)",
                                        "novita (org/alpha)"]  # fmt: skip


def test_the_table_shows_the_worst_case_in_words(router: FakeRouter, tmp_path: Path) -> None:
    from inference_tracker.catalog import Estimate
    from inference_tracker.record import Call
    from inference_tracker.render import render_plan

    body = json.dumps({"model": "x"})
    calls = [Call("org/a", "groq", "x", "https://r/groq/v1", body, {})] * 2
    text = render_plan(calls, table=True, base_url="https://r", width=80,
                       estimate=Estimate([0.002, None], 0.002, ["together (org/a)"], 1), interval_s=300)  # fmt: skip
    said = " ".join(text.split())
    assert "Worst case (every call answers MAX_TOKENS_DEFAULT tokens): $0.0020 a cycle" in said
    assert "$0.58 a day at one cycle every 300 s (1 call priced)" in said
    assert "No price for 1 call: together (org/a)." in said


def worst_case_of(calls: list[tuple[Any, float | None]]) -> Any:
    from inference_tracker.catalog import Estimate

    per_call = [cost for _, cost in calls]
    unpriced = [f"{call.provider_name} ({call.model_id})" for call, cost in calls if cost is None]
    priced = sum(1 for call, cost in calls if cost is not None and not call.skip_reason)
    return Estimate(per_call, 0.0, unpriced, priced)


def test_with_no_price_at_all_the_worst_case_is_unknown_not_zero(router: FakeRouter) -> None:
    from inference_tracker.catalog import Estimate
    from inference_tracker.record import Call
    from inference_tracker.render import render_plan

    body = json.dumps({"model": "x"})
    calls = [Call("org/a", "groq", "x", "https://r/groq/v1", body, {})] * 2
    unpriced = Estimate([None, None], 0.0, ["groq (org/a)", "together (org/a)"], priced=0)
    text = render_plan(calls, table=True, base_url="https://r", width=80,
                       estimate=unpriced, interval_s=300)  # fmt: skip
    said = " ".join(text.split())
    assert "$0" not in said
    assert "Worst case: unknown, no price for any of the 2 calls" in said
    # A pair skipped on purpose costs nothing, but is not a price either.
    skipped = Call("org/a", "fal-ai", "x", "https://r/fal-ai/v1", body, {}, skip_reason="no chat")
    with_skip = worst_case_of([(calls[0], None), (calls[1], None), (skipped, 0.0)])
    said = " ".join(render_plan([*calls, skipped], table=True, base_url="https://r", width=80,
                                estimate=with_skip, interval_s=300).split())  # fmt: skip
    assert "$0" not in said and "unknown, no price for any of the 2 calls" in said
    result = run_cli("collect", "--dry-run")  # the fake router has no catalog, no prices
    [logged] = [json.loads(line) for line in result.stderr.splitlines() if "worst_case" in line]
    assert logged["cycle_usd"] is None and logged["day_usd"] is None
