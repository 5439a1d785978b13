"""How `tracker status` looks: one JSON line, or a rich summary (colour only on a terminal).

Takes the plain status object report.build_status made; rich is imported only when a text
view is rendered, so `status --json` stays fast.
"""

from __future__ import annotations

import io
import json
from typing import Any

from inference_tracker.report import ago


def render_json(status: dict[str, Any]) -> str:
    """One JSON object on one line."""
    return json.dumps(status, ensure_ascii=False) + "\n"


def render_text(status: dict[str, Any], *, color: bool, width: int | None = None) -> str:
    """The human view: colour and a terminal-wide table on a TTY, plain text otherwise.

    `width` defaults to the terminal's width in colour, else 120 columns.
    """
    import shutil

    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = io.StringIO()
    console = Console(
        file=out,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        width=width or (shutil.get_terminal_size((120, 24)).columns if color else 120),
        markup=False,
        emoji=False,
        highlight=False,
    )

    def styled(text: str, style: str = "") -> Text:
        return Text(text, style=style if color else "")

    settings = status["settings"]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold" if color else "")
    facts.add_column()
    facts.add_row(
        styled("Dataset"),
        styled(f"{settings['repo'] or '(HF_DATASET_REPO_ID not set)'}, file {settings['target']}"),
    )
    facts.add_row(
        styled("Schedule"),
        styled(
            f"every {settings['interval_s']:g} s, "
            f"push every {_plural(settings['push_interval_cycles'], 'cycle')}, "
            f"probe {settings['probe_id']}, buffer {settings['buffer']}"
        ),
    )
    facts.add_row(
        styled("Tokens"),
        styled(
            f"HF_TOKEN {'set' if settings['hf_token_set'] else 'not set'}, "
            f"HF_HUB_TOKEN {'set' if settings['hf_hub_token_set'] else 'not set'}"
        ),
    )
    facts.add_row(
        styled("Cycles"),
        styled(
            f"{status['cycle_counter']} so far, "
            f"next push in {_plural(status['cycles_until_push'], 'cycle')}"
        ),
    )
    cycle = status["last_cycle"]
    if cycle is None:
        facts.add_row(styled("Last cycle"), styled("none yet", "yellow"))
    else:
        facts.add_row(
            styled("Last cycle"),
            styled(
                f"{cycle['started']} ({ago(cycle['age_s'])}): {_plural(cycle['rows'], 'row')}, "
                f"{cycle['ok']} ok, {cycle['failed']} failed, {_seconds(cycle['duration_s'])}",
                "red" if status["cron_stale"] else "",
            ),
        )
    facts.add_row(
        styled("Buffer"),
        styled(
            f"{_plural(status['buffer_rows'], 'row')}; pending "
            f"{_plural(status['pending_batches'], 'batch', 'batches')}, "
            f"{_plural(status['pending_rows'], 'row')}"
        ),
    )
    push = status["last_push"]
    if push is None:
        facts.add_row(styled("Last push"), styled("never"))
    else:
        rows = "? rows" if push["rows"] is None else _plural(push["rows"], "row")
        facts.add_row(
            styled("Last push"),
            styled(
                f"{push['at'] or 'time unknown'} ({ago(push['age_s'])}): {rows}, "
                f"{push['commit_url'] or 'no commit URL'}"
            ),
        )
    error = status["last_error"]
    if error is None:
        facts.add_row(styled("Last error"), styled("none"))
    else:
        facts.add_row(
            styled("Last error"),
            styled(
                f"{error['at'] or 'time unknown'} in {error['where']}: {error['message']}", "red"
            ),
        )
    console.print(facts)

    for warning in status["warnings"]:
        console.print(styled(f"Warning: {warning}", "yellow"))
    for problem in status["problems"]:
        console.print(styled(f"Problem: {problem}", "red"))

    window = _window_label(status["window_hours"])
    console.print()
    if not status["providers"]:
        console.print(styled(f"Providers: no rows in the last {window}"))
        return _finish(out.getvalue(), color)
    table = Table(
        title=f"Providers, last {window} ({_plural(status['window_rows'], 'row')}), worst first",
        title_justify="left",
        box=box.SIMPLE if color else box.ASCII2,
        header_style="bold" if color else "",
        title_style="bold" if color else "",
    )
    table.add_column("provider")
    for name in ("calls", "success", "p50 ms", "p95 ms", "answer ok"):
        table.add_column(name, justify="right")
    table.add_column("errors")
    for p in status["providers"]:
        errors = ", ".join(f"{name} {count}" for name, count in p["errors"].items())
        table.add_row(
            styled(p["provider"]),
            styled(str(p["calls"])),
            styled(_percent(p["success_rate"]), _health(p["success_rate"], 0.99, 0.9)),
            styled(_ms(p["p50_ms"])),
            styled(_ms(p["p95_ms"])),
            styled(_percent(p["answer_correct_rate"]), _health(p["answer_correct_rate"], 0.9, 0.5)),
            styled(errors, "red" if errors else ""),
        )
    console.print(table)
    return _finish(out.getvalue(), color)


def _finish(text: str, color: bool) -> str:
    """Plain output loses rich's padding: no trailing spaces, no blank table margins."""
    if color:
        return text
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def _health(value: float | None, good: float, fair: float) -> str:
    if value is None:
        return "dim"
    return "green" if value >= good else "yellow" if value >= fair else "red"


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _seconds(value: object) -> str:
    return f"{value:g} s" if isinstance(value, int | float) else "? s"


def _window_label(hours: int) -> str:
    return f"{hours // 24} days" if hours % 24 == 0 and hours > 24 else f"{hours} h"
