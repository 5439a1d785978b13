"""leaderboard.py: this probe's live section of the dataset card, and merging it into the card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inference_tracker.leaderboard import leaderboard_section, markers, merge_section
from inference_tracker.record import COLUMNS, Row, iso_ms
from inference_tracker.states import ProviderState

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
PROBE = "probe-1"


def make_row(
    provider: str = "groq",
    *,
    ago: timedelta = timedelta(minutes=5),
    error_class: str = "ok",
    duration_ms: str = "1000.0",
    answer_correct: str = "true",
    probe: str = PROBE,
    model: str = "org/m",
    **more: str,
) -> Row:
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        cycle_timestamp_iso=iso_ms(NOW - ago),
        model_id=model,
        provider_name=provider,
        duration_ms=duration_ms,
        error_class=error_class,
        response_status_code="200" if error_class == "ok" else "-1",
        answer_correct=answer_correct,
        probe_id=probe,
    )
    row.update(more)
    return row


def up(provider: str) -> ProviderState:
    return ProviderState(provider, "up", iso_ms(NOW), "fine", 1.0, 1.0, 1.0)


def known_rows() -> list[Row]:
    rows = []
    for i, (ms, ttft, tps) in enumerate(
        zip(range(1000, 1500, 100), range(200, 250, 10), range(50, 100, 10), strict=True)
    ):
        rows.append(
            make_row(
                ago=timedelta(minutes=5 * (i + 1)),
                duration_ms=f"{ms}.0",
                answer_correct="false" if i == 0 else "true",
                streamed="true",
                ttft_ms=f"{ttft}.0",
                output_tokens_per_s=f"{tps}.0",
                cost_usd="0.0002",
            )
        )
    rows.append(make_row(error_class="timeout", duration_ms="60000.0", answer_correct=""))
    rows += [make_row(ago=timedelta(days=3, minutes=i), duration_ms="2000.0") for i in range(4)]
    rows.append(make_row("a|b", ago=timedelta(hours=2), duration_ms="900.0"))
    rows.append(make_row(ago=timedelta(days=8), duration_ms="99999.0"))  # too old
    rows.append(make_row(probe="probe-2", duration_ms="5.0"))  # another probe's
    return rows


HEADER = (
    "| Provider | State | Calls | Uptime | Median TTFT (ms) | p95 TTFT (ms) "
    "| Median speed (tok/s) | Median duration (ms) | Answer correct | Cost per 1,000 calls |\n"
    "| :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: |\n"
)
EXPECTED = (
    "<!-- inference-tracker:leaderboard:probe-1:start -->\n"
    "### Inference providers seen from probe probe-1\n"
    "\n"
    "Made at 2025-06-01T12:00:00Z by inference-tracker.\n"
    "\n"
    "#### Last 24 hours\n"
    "\n" + HEADER + "| a\\|b | - | 1 | - | - | - | - | 900 | 100.0% | - |\n"
    "| groq | up | 6 | 83.3% | 220 | 240 | 70.0 | 1,200 | 80.0% | $0.20 |\n"
    "\n"
    "#### Last 7 days\n"
    "\n" + HEADER + "| a\\|b | - | 1 | - | - | - | - | 900 | 100.0% | - |\n"
    "| groq | up | 10 | 90.0% | 220 | 240 | 70.0 | 1,400 | 88.9% | $0.20 |\n"
    "\n"
    "State: now. Uptime: successful / (successful + failed) calls, rate-limited (429) calls left"
    ' out, "-" under 5 calls. TTFT and speed: successful streamed calls; duration: successful'
    " calls. Answer correct: of the answers graded. Cost: of the calls whose cost is known.\n"
    "\n"
    "<!-- inference-tracker:leaderboard:probe-1:end -->\n"
)


def test_renders_known_rows() -> None:
    section = leaderboard_section(
        known_rows(), probe_id=PROBE, states={"groq": up("groq")}, now=NOW
    )
    assert section == EXPECTED


def test_an_empty_window_says_so() -> None:
    rows = [make_row(ago=timedelta(days=2))]
    section = leaderboard_section(rows, probe_id=PROBE, states={}, now=NOW)
    assert "#### Last 24 hours\n\nNo calls in the last 24 hours.\n\n#### Last 7 days\n" in section
    assert "| groq | - | 1 |" in section


def test_big_numbers_and_costs_read_well() -> None:
    rows = [make_row(duration_ms="12345.0", cost_usd="0.0000001") for _ in range(1234)]
    section = leaderboard_section(rows, probe_id=PROBE, states={}, now=NOW)
    assert "| groq | - | 1,234 | 100.0% | - | - | - | 12,345 | 100.0% | <$0.01 |" in section
    rows = [make_row(cost_usd="0.0123")]
    assert "| $12.30 |" in leaderboard_section(rows, probe_id=PROBE, states={}, now=NOW)


def test_the_markers() -> None:
    assert markers("p") == (
        "<!-- inference-tracker:leaderboard:p:start -->",
        "<!-- inference-tracker:leaderboard:p:end -->",
    )


@pytest.mark.parametrize("probe", ["", "a-->b", "a>b", "a<b", "a\nb", "a\rb"])
def test_a_probe_id_that_would_break_a_marker_is_refused(probe: str) -> None:
    with pytest.raises(ValueError, match="probe id"):
        leaderboard_section([], probe_id=probe, states={}, now=NOW)
    with pytest.raises(ValueError, match="probe id"):
        merge_section("", probe, "")


# --- merging into the card -------------------------------------------------------------------------

CARD = (
    "---\n"
    "license: apache-2.0\n"
    "# the owner's own note: <!-- inference-tracker:leaderboard:probe-1:start -->\n"
    "configs:\n"
    "- config_name: default\n"
    "---\n"
    "\n"
    "# My dataset\n"
    "\n"
    "Prose the owner wrote,  with  odd   spacing\t and a trailing space \n"
    "\n"
    "<!-- inference-tracker:columns:start -->\n"
    "| column | type |\n"
    "<!-- inference-tracker:columns:end -->\n"
    "The end.\n"
)


def section_of(probe: str, marker: str = "") -> str:
    rows = [make_row(probe=probe, duration_ms=f"{len(marker) + 100}.0")]
    return leaderboard_section(rows, probe_id=probe, states={}, now=NOW)


def test_appends_to_an_owner_written_card_keeping_it_whole() -> None:
    section = section_of(PROBE)
    merged = merge_section(CARD, PROBE, section)
    assert merged == CARD + "\n" + section


@pytest.mark.parametrize(
    ("card", "expected_gap"),
    [("text", "\n\n"), ("text\n", "\n"), ("text\n\n", ""), ("text\n\n\n", ""), ("", "")],
)
def test_appends_after_a_blank_line(card: str, expected_gap: str) -> None:
    section = section_of(PROBE)
    assert merge_section(card, PROBE, section) == card + expected_gap + section


def test_replaces_only_its_own_section() -> None:
    old_1 = section_of(PROBE, "old")
    section_2 = section_of("probe-2")
    card = merge_section(merge_section(CARD, PROBE, old_1), "probe-2", section_2)
    card += "Owner text after the sections.\n"
    new_1 = section_of(PROBE, "a newer one")
    assert new_1 != old_1
    merged = merge_section(card, PROBE, new_1)
    assert merged == card.replace(old_1, new_1)
    assert section_2 in merged
    assert merged.startswith(CARD)
    assert merged.endswith(section_2 + "Owner text after the sections.\n")


def test_merging_the_same_section_twice_changes_nothing() -> None:
    section = section_of(PROBE)
    once = merge_section(CARD, PROBE, section)
    assert merge_section(once, PROBE, section) == once
    with_two = merge_section(once, "probe-2", section_of("probe-2"))
    assert merge_section(with_two, PROBE, section) == with_two


def test_probe_ids_that_start_alike_do_not_mix() -> None:
    card = merge_section(CARD, "a:b", section_of("a:b"))
    card = merge_section(card, "a", section_of("a"))
    new_a = section_of("a", "newer")
    merged = merge_section(card, "a", new_a)
    assert section_of("a:b") in merged
    assert new_a in merged


@pytest.mark.parametrize(
    "provider",
    [
        "x|y",
        "<!-- inference-tracker:leaderboard:probe-1:end -->",
        "<!-- inference-tracker:leaderboard:probe-2:start -->",
        "two\nlines -->",
        "back\\|slash",
        "*bold* _it_ `code` [link](http://x)",
    ],
)
def test_a_provider_name_cannot_break_the_card(provider: str) -> None:
    rows = [make_row(provider), make_row("groq")]
    section = leaderboard_section(rows, probe_id=PROBE, states={provider: up(provider)}, now=NOW)
    assert section.count("<!--") == 2
    assert section.count("-->") == 2
    assert "\n\n" not in section.split("#### Last 24 hours\n\n")[1].split("\n\n#### Last 7")[0]
    for line in section.splitlines():
        if line.startswith("| ") and "groq" not in line and "Provider" not in line:
            unescaped = line.replace("\\\\", "").replace("\\|", "")
            assert unescaped.count("|") == 11, line  # 10 cells: the name stays in its cell
    card = merge_section(CARD, "probe-2", section_of("probe-2"))
    merged = merge_section(card, PROBE, section)
    assert merge_section(merged, PROBE, section) == merged
    assert merged == card + "\n" + section
    again = merge_section(merged, PROBE, section_of(PROBE))
    assert again == card + "\n" + section_of(PROBE)


def test_a_section_of_another_probe_is_refused() -> None:
    with pytest.raises(ValueError, match="not a leaderboard section of probe probe-2"):
        merge_section(CARD, "probe-2", section_of(PROBE))
    with pytest.raises(ValueError, match="not a leaderboard section of probe probe-1"):
        merge_section(CARD, PROBE, "some text\n")


def test_a_start_marker_without_its_end_becomes_the_section() -> None:
    start, _ = markers(PROBE)
    card = f"# Title\n\nBefore {start} after.\nMore prose.\n"
    section = section_of(PROBE)
    merged = merge_section(card, PROBE, section)
    assert merged == f"# Title\n\nBefore {section.removesuffix(chr(10))} after.\nMore prose.\n"
    assert merge_section(merged, PROBE, section) == merged


def test_an_end_marker_alone_is_left_and_the_section_appended() -> None:
    _, end = markers(PROBE)
    card = f"# Title\n{end}\nProse.\n"
    section = section_of(PROBE)
    merged = merge_section(card, PROBE, section)
    assert merged == card + "\n" + section
    assert merge_section(merged, PROBE, section) == merged


def test_a_second_copy_of_its_section_is_removed() -> None:
    old = section_of(PROBE, "old")
    card = CARD + "\n" + old + "Middle.\n\n" + old + "Tail.\n"
    new = section_of(PROBE, "new")
    merged = merge_section(card, PROBE, new)
    assert merged == CARD + "\n" + new + "Middle.\n\n" + "Tail.\n"


def test_markers_in_the_yaml_header_are_not_ours() -> None:
    section = section_of(PROBE)
    merged = merge_section(CARD, PROBE, section)
    assert merged.startswith(CARD)  # the YAML comment holding a start marker is untouched
