"""The dataset card's live section: this probe's per-provider table over 24 hours and 7 days.

Pure functions of text, rows and `now`. Each probe owns one section of the card, between two
HTML comments (the format dataset.py uses for its own sections):

    <!-- inference-tracker:leaderboard:{probe_id}:start -->
    ...
    <!-- inference-tracker:leaderboard:{probe_id}:end -->

`merge_section` swaps that section for a new one and leaves every other byte of the card as
it was: the YAML header, the owner's prose, the other probes' sections. Whatever a row holds
(a provider named `a|b` or `<!-- ... -->`) is escaped in the table, so it cannot end a cell,
a line or the section.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from inference_tracker.record import Row
from inference_tracker.states import ProviderState
from inference_tracker.stats import WEEK_HOURS, ProviderStats, provider_stats

WINDOWS = ((24, "24 hours"), (WEEK_HOURS, "7 days"))
COLUMNS = (
    ("Provider", ":--"),
    ("State", ":--"),
    ("Calls", "--:"),
    ("Uptime", "--:"),
    ("Median TTFT (ms)", "--:"),
    ("p95 TTFT (ms)", "--:"),
    ("Median speed (tok/s)", "--:"),
    ("Median duration (ms)", "--:"),
    ("Answer correct", "--:"),
    ("Cost per 1,000 calls", "--:"),
)
NOTE = (
    "State: now. Uptime: successful / (successful + failed) calls, rate-limited (429) calls left"
    ' out, "-" under 5 calls. TTFT and speed: successful streamed calls; duration: successful'
    " calls. Answer correct: of the answers graded. Cost: of the calls whose cost is known."
)
UNKNOWN = "-"

# Markdown that could end a cell, start a tag or a comment, or format a name: escaped. < and >
# become entities so no marker can appear inside a section.
_CELL = str.maketrans(
    {
        **{c: "\\" + c for c in "\\|`*_[]~"},
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\n": " ",
        "\r": " ",
    }
)


def markers(probe_id: str) -> tuple[str, str]:
    """The start and end markers of a probe's section."""
    _check_probe(probe_id)
    name = f"inference-tracker:leaderboard:{probe_id}"
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def leaderboard_section(
    rows: Iterable[Row], *, probe_id: str, states: dict[str, ProviderState], now: datetime
) -> str:
    """The section, markers included, ending in a newline.

    Rows of other probes are left out (rows with no probe_id, from before the column, are
    kept). Statistics from stats.provider_stats over each window; the state is the current one.
    """
    start, end = markers(probe_id)
    mine = [row for row in rows if row.get("probe_id", "") in (probe_id, "")]
    made_at = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = [
        start,
        f"### Inference providers seen from probe {_cell(probe_id)}",
        "",
        f"Made at {made_at} by inference-tracker.",
        "",
    ]
    for hours, label in WINDOWS:
        lines += [f"#### Last {label}", ""]
        stats = sorted(provider_stats(mine, now=now, hours=hours), key=lambda s: s.provider)
        if stats:
            lines.append(_row(name for name, _ in COLUMNS))
            lines.append(_row(align for _, align in COLUMNS))
            lines += [_row(_cells(s, states.get(s.provider))) for s in stats]
        else:
            lines.append(f"No calls in the last {label}.")
        lines.append("")
    lines += [NOTE, "", end]
    return "\n".join(lines) + "\n"


def merge_section(card: str, probe_id: str, section: str) -> str:
    """The card with this probe's section replaced by `section`, or `section` appended after a
    blank line when the card has none. Nothing else changes: the YAML header is never
    searched, other probes' sections and the owner's text stay byte for byte.

    A start marker without its end (the end deleted by hand) is replaced by the section where
    it stands; a later second copy of the section is removed.
    """
    start, end = markers(probe_id)
    body = section.removesuffix("\n")
    if not (
        body.startswith(start)
        and body.endswith(end)
        and body.count(start) == 1
        and body.count(end) == 1
    ):
        raise ValueError(f"not a leaderboard section of probe {probe_id}")
    first = card.find(start, _front_matter_end(card))
    if first < 0:
        gap = "" if not card or card.endswith("\n\n") else "\n" if card.endswith("\n") else "\n\n"
        return card + gap + section
    last = card.find(end, first + len(start))
    if last < 0:
        return card[:first] + body + card[first + len(start) :]
    rest = card[last + len(end) :]
    while (again := rest.find(start)) >= 0:
        stop = rest.find(end, again + len(start))
        if stop < 0:
            break
        stop += len(end)
        stop += rest.startswith("\n", stop)
        rest = rest[:again] + rest[stop:]
    return card[:first] + body + rest


def _check_probe(probe_id: str) -> None:
    if not probe_id or any(c in probe_id for c in "<>\r\n"):
        raise ValueError(
            f"probe id {probe_id!r} cannot name a card section (empty, or has <, > or a newline)"
        )


def _front_matter_end(card: str) -> int:
    """Where the body begins: after the YAML header's closing `---` line, if there is one."""
    lines = card.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return 0
    offset = len(lines[0])
    for line in lines[1:]:
        offset += len(line)
        if line.rstrip("\r\n") == "---":
            return offset
    return 0


def _cells(stats: ProviderStats, state: ProviderState | None) -> list[str]:
    return [
        _cell(stats.provider),
        state.state if state is not None else UNKNOWN,
        f"{stats.calls:,}",
        _percent(stats.uptime),
        _number(stats.p50_ttft_ms, 0),
        _number(stats.p95_ttft_ms, 0),
        _number(stats.p50_tokens_per_s, 1),
        _number(stats.p50_ms, 0),
        _percent(stats.answer_correct_rate),
        _usd(stats.cost_per_1000_calls),
    ]


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(text: str) -> str:
    return text.translate(_CELL)


def _percent(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value * 100:.1f}%"


def _number(value: float | None, decimals: int) -> str:
    return UNKNOWN if value is None else f"{value:,.{decimals}f}"


def _usd(value: float | None) -> str:
    if value is None:
        return UNKNOWN
    return "<$0.01" if 0 < value < 0.005 else f"${value:,.2f}"
