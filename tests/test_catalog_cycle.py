"""The router's catalog beside every row, the cost, the spending cap and the estimate
(issue 14), through the real CLI against the fake router on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inference_tracker.csvfile import read_csv
from inference_tracker.store import Store
from tests.fakes.router import FakeRouter, World, catalog, listing
from tests.helpers import run_cli, use_router
from tests.rows import make_row, summary_of

TOKEN = "hf_" + "Pr1ce" * 7
FULL = {
    "status": "live", "pricing": {"input": 0.5, "output": 2.0},
    "first_token_latency_ms": 320, "throughput": 55.5, "context_length": 131072,
}  # fmt: skip


def with_figures(pairs: dict[str, list[str]], **figures: Any) -> dict[str, Any]:
    """A listing whose provider entries carry the listing's own figures."""
    page = listing(pairs)
    for model in page["models"]:
        for entry in model["availableInferenceProviders"]:
            entry.update(figures)
    return page


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    world = World(listing=listing({"org/m": ["novita", "groq"]}))
    with FakeRouter(world) as fake:
        use_router(monkeypatch, fake, TOKEN)
        monkeypatch.setenv("MAX_RETRIES", "0")
        yield fake


def collect(tmp_path: Path) -> tuple[dict[str, dict[str, str]], str]:
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    rows = read_csv(tmp_path / "metrics_buffer.csv").rows
    (tmp_path / "metrics_buffer.csv").unlink()
    return {row["provider_name"]: row for row in rows}, result.stderr


def test_a_complete_catalog_beside_every_row(router: FakeRouter, tmp_path: Path) -> None:
    router.world.catalog = catalog({("org/m", "novita"): FULL, ("org/m", "groq"): FULL})
    rows, _ = collect(tmp_path)
    novita = rows["novita"]
    assert novita["advertised_status"] == "live"
    assert (novita["advertised_ttft_ms"], novita["advertised_tokens_per_s"]) == ("320.0", "55.5")
    assert (novita["price_input_per_m"], novita["price_output_per_m"]) == ("0.5", "2.0")
    # usage 20 prompt + 42 completion tokens
    assert float(novita["cost_usd"]) == pytest.approx((20 * 0.5 + 42 * 2.0) / 1e6)


def test_the_listing_fills_what_the_catalog_does_not_say(
    router: FakeRouter, tmp_path: Path
) -> None:
    router.world.listing = with_figures({"org/m": ["novita", "groq"]}, tokensPerSecond=24.7,
                                        pricingOutput=3.38)  # fmt: skip
    router.world.catalog = catalog({("org/m", "novita"): {"status": "error", "throughput": 10}})
    rows, _ = collect(tmp_path)
    novita, groq = rows["novita"], rows["groq"]
    assert (novita["advertised_status"], novita["advertised_tokens_per_s"]) == ("error", "10.0")
    assert novita["price_output_per_m"] == "3.38"  # from the listing: the catalog had none
    assert groq["advertised_status"] == ""  # the catalog does not list the pair
    assert (groq["advertised_tokens_per_s"], groq["price_output_per_m"]) == ("24.7", "3.38")
    assert groq["price_input_per_m"] == "" and groq["cost_usd"] == ""  # no input price


def test_malformed_entries_are_skipped(router: FakeRouter, tmp_path: Path) -> None:
    router.world.catalog = {
        "object": "list",
        "data": [
            {"id": "org/m", "providers": [
                {"provider": "novita", "status": "live", "pricing": "cheap", "throughput": "x"},
                {"provider": 3, "status": "live"}, "groq",
            ]},
            {"id": 7, "providers": []},
        ],
    }  # fmt: skip
    rows, _ = collect(tmp_path)
    assert rows["novita"]["advertised_status"] == "live"
    assert rows["novita"]["price_input_per_m"] == rows["novita"]["advertised_tokens_per_s"] == ""
    assert rows["groq"]["advertised_status"] == ""


@pytest.mark.parametrize(
    "fault",
    [{"catalog_status": 500}, {"catalog_raw": b"<html>no</html>"}, {"catalog_raw": b"{"},
     {"catalog": None}],
    ids=["500", "html", "bad-json", "404"],
)  # fmt: skip
def test_a_failing_catalog_is_a_warning_and_empty_columns(
    router: FakeRouter, tmp_path: Path, fault: dict[str, Any]
) -> None:
    router.world.catalog = catalog({("org/m", "novita"): FULL})
    for name, value in fault.items():
        setattr(router.world, name, value)
    rows, stderr = collect(tmp_path)
    assert rows["novita"]["error_class"] == "ok"
    assert rows["novita"]["advertised_status"] == rows["novita"]["price_input_per_m"] == ""
    warnings = [json.loads(line) for line in stderr.splitlines() if "catalog_missing" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"


def test_a_slow_catalog_never_delays_the_cycle(router: FakeRouter, tmp_path: Path) -> None:
    router.world.catalog = catalog({("org/m", "novita"): FULL})
    router.world.catalog_hang = 60.0  # the catalog would take a minute
    began = time.monotonic()
    rows, stderr = collect(tmp_path)
    assert time.monotonic() - began < 30  # the cycle costs its calls, not the catalog
    assert router.catalog_requests == 1
    assert rows["novita"]["advertised_status"] == ""
    assert "not in yet when the calls were done" in stderr


# --- the spending cap ------------------------------------------------------------------------------


def spent_before(tmp_path: Path, dollars: float, ago: timedelta = timedelta(hours=1)) -> None:
    store = Store(tmp_path / "metrics_buffer.csv", tmp_path / ".tracker")
    row = make_row(0, "org/earlier", start=datetime.now(UTC) - ago)
    row["cost_usd"] = repr(dollars)
    store.append_cycle([row], summary_of([row]))


@pytest.mark.parametrize(("spent", "calls"), [(0.99, 2), (1.0, 0), (1.5, 0)])
def test_the_spending_cap_at_below_and_above(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spent: float, calls: int
) -> None:
    monkeypatch.setenv("MAX_DAILY_SPEND_USD", "1")
    spent_before(tmp_path, spent)
    spent_before(tmp_path, 5.0, ago=timedelta(hours=25))  # older than a day: not counted
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    assert len(router.seen) == calls
    rows = [r for r in read_csv(tmp_path / "metrics_buffer.csv").rows if r["model_id"] == "org/m"]
    assert len(rows) == 2  # the cycle counts, with a row per pair
    if calls == 0:
        assert {r["error_class"] for r in rows} == {"budget"}
        [warning] = [json.loads(line) for line in result.stderr.splitlines()
                     if "spending_cap_reached" in line]  # fmt: skip
        assert "MAX_DAILY_SPEND_USD ($1)" in warning["detail"]
        state = json.loads((tmp_path / ".tracker" / "state.json").read_text())
        assert state["last_cycle"]["failed"] == 0 and state["last_cycle"]["skipped"] == 2
        warnings = json.loads(run_cli("status", "--json").stdout)["warnings"]
        assert any("spending cap" in w and "MAX_DAILY_SPEND_USD" in w for w in warnings)
        assert not any("providers.toml" in w for w in warnings), warnings
    else:
        assert {r["error_class"] for r in rows} == {"ok"}


def test_a_cap_that_cannot_see_a_cost_says_so(
    router: FakeRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap counts cost_usd, known only with a price for both sides: calls without one are
    spending the cap cannot see, and the log says how many."""
    monkeypatch.setenv("MAX_DAILY_SPEND_USD", "1")
    router.world.catalog = catalog({("org/m", "novita"): FULL})  # groq: no price at all
    result = run_cli("collect", "--no-push")
    assert result.exit_code == 0, result.stderr
    [warning] = [json.loads(line) for line in result.stderr.splitlines()
                 if "spend_unknown" in line]  # fmt: skip
    assert warning["calls"] == 1 and "MAX_DAILY_SPEND_USD" in warning["detail"]
    monkeypatch.delenv("MAX_DAILY_SPEND_USD")  # no cap: nothing to warn about
    assert "spend_unknown" not in run_cli("collect", "--no-push").stderr


def test_status_shows_the_money_spent_and_measured_against_advertised(
    router: FakeRouter, tmp_path: Path
) -> None:
    router.world.catalog = catalog({("org/m", "novita"): FULL, ("org/m", "groq"): FULL})
    router.world.behaviours = {"novita": {"kind": "ok", "ttft": 0.05, "interval": 0.01}}
    assert run_cli("collect", "--no-push").exit_code == 0
    status = json.loads(run_cli("status", "--json").stdout)
    each = (20 * 0.5 + 42 * 2.0) / 1e6
    assert status["spend"]["window_usd"] == pytest.approx(2 * each)
    assert status["spend"]["costed_calls"] == 2
    # A day at this pace: one cycle stands for one SCHEDULE_INTERVAL_SECONDS (300 s), however
    # few seconds ago it ran.
    assert status["spend"]["per_day_usd"] == pytest.approx(2 * each * 86400 / 300, rel=0.2)
    novita = next(p for p in status["providers"] if p["provider"] == "novita")
    assert novita["advertised_ttft_ms"] == 320.0 and novita["p50_ttft_ms"] >= 50
    assert novita["ttft_vs_advertised"] == pytest.approx(novita["p50_ttft_ms"] / 320, rel=1e-3)
    assert novita["cost_usd"] == pytest.approx(each)
    assert novita["failed_while_live"] == 0
    assert novita["cost_per_day_usd"] == pytest.approx(each * 86400 / 300, rel=0.2)
    paces = [p["cost_per_day_usd"] for p in status["providers"] if p["cost_per_day_usd"]]
    assert sum(paces) == pytest.approx(status["spend"]["per_day_usd"], abs=1e-3)
    text = run_cli("status").stdout
    assert "Spent $0.0002 on 2 priced calls in the last 24 h" in text
    # The text view has them too: a table of measured against advertised, with the spend.
    table = text[text.index("Measured against the router's catalog") :]
    header = next(line for line in table.splitlines() if "advertised" in line)
    for column in ("TTFT p50", "p95", "advertised", "tok/s", "failed live", "spent", "a day"):
        assert column in header, header
    novita_line = next(line for line in table.splitlines() if "novita" in line)
    assert "320" in novita_line and "55.5" in novita_line
    assert f"{novita['ttft_vs_advertised']:.2f}x" in novita_line
    assert f"${novita['cost_usd']:.4f}" in novita_line
