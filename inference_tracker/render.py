"""All presentation: `tracker status` (one JSON line, or a rich summary with colour only on a
terminal) and the `collect --dry-run` plan.

Takes plain data (the status object report.build_status made, the planned calls); rich is
imported only when a text view is rendered, so `status --json` stays fast.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from inference_tracker.catalog import Estimate
    from inference_tracker.record import Call


def render_check(status: dict[str, Any]) -> str:
    """`status --check`: one line saying whether the tracker itself is healthy, and why not."""
    faults = status["faults"]
    if not faults:  # healthy: a cycle has run (none yet is a fault)
        return f"OK: the tracker is healthy (last cycle {ago(status['last_cycle']['age_s'])})\n"
    more = f" (and {plural(len(faults) - 1, 'more problem')})" if len(faults) > 1 else ""
    return f"FAIL: {faults[0]}{more}\n"


def render_json(status: dict[str, Any]) -> str:
    """One JSON object on one line."""
    return json.dumps(status, ensure_ascii=False) + "\n"


def render_text(status: dict[str, Any], *, color: bool, width: int | None = None) -> str:
    """The human view: colour and a terminal-wide table on a TTY, plain text otherwise.

    `width` defaults to the terminal's width in colour, else PLAIN_WIDTH columns (room for
    every column of both tables: a file or a mail has no terminal to fit).
    """
    import shutil

    from rich.console import Console

    out = io.StringIO()
    console = Console(
        file=out,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        width=width or (shutil.get_terminal_size((120, 24)).columns if color else PLAIN_WIDTH),
        markup=False,
        emoji=False,
        highlight=False,
    )
    paint = _Paint(color)
    console.print(_facts(status, paint))
    push = status["last_push"]
    if push is not None and push["commit_url"]:  # whole on its own line, however wide
        label = "Commit".ljust(len("Last cycle"))  # the widest label of the facts
        console.print(paint(f"{label}  {push['commit_url']}"), soft_wrap=True)
    for warning in status["warnings"]:
        console.print(paint(f"Warning: {warning}", "yellow"))
    for problem in status["problems"]:
        console.print(paint(f"Problem: {problem}", "red"))
    console.print()
    window = _window_label(status["window_hours"])
    spend = status["spend"]
    if spend["window_usd"] is not None:
        calls = plural(spend["costed_calls"], "priced call")
        console.print(
            paint(
                f"Spent ${spend['window_usd']:.4f} on {calls} in the last {window},"
                f" about ${spend['per_day_usd'] or 0:.2f} a day"
            )
        )
    if status["providers"]:
        narrow = console.width < WIDE
        console.print(_provider_table(status, window, paint, narrow=narrow))
        if any(_against_catalog(p) for p in status["providers"]):
            catalog_narrow = console.width < CATALOG_WIDE
            console.print(_catalog_table(status, window, paint, narrow=catalog_narrow))
    else:
        console.print(paint(f"Providers: no rows in the last {window}"))
    return _finish(out.getvalue(), color)


class _Paint:
    """rich Text, styled only when colour is on."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str = "") -> Text:
        from rich.text import Text

        return Text(text, style=style if self.color else "")


def _facts(status: dict[str, Any], paint: _Paint) -> Table:
    """The settings, the counters, the last cycle, error and push: one line each (the last
    push last, so the commit URL printed after the grid follows it)."""
    from rich.table import Table

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold" if paint.color else "")
    facts.add_column()
    settings = status["settings"]
    repo = settings["repo"] or "(HF_DATASET_REPO_ID not set)"
    facts.add_row(paint("Dataset"), paint(f"{repo}, file {settings['target']}"))
    facts.add_row(
        paint("Schedule"),
        paint(
            f"every {settings['interval_s']:g} s, "
            f"push every {plural(settings['push_interval_cycles'], 'cycle')}, "
            f"probe {settings['probe_id']}, buffer {settings['buffer']}"
        ),
    )
    read = (
        f"working folder {settings['working_folder']}\n"
        f".env {settings['env_file'] or 'none'}\nSTATE_DIR {settings['state_dir']}"
    )
    facts.add_row(paint("Read"), paint(read))
    hf_token = "set" if settings["hf_token_set"] else "not set"
    hub_token = "set" if settings["hf_hub_token_set"] else "not set"
    facts.add_row(paint("Tokens"), paint(f"HF_TOKEN {hf_token}, HF_HUB_TOKEN {hub_token}"))
    facts.add_row(
        paint("Cycles"),
        paint(
            f"{status['cycle_counter']} so far, "
            f"next push in {plural(status['cycles_until_push'], 'cycle')}"
        ),
    )
    cycle = status["last_cycle"]
    if cycle is None:
        facts.add_row(paint("Last cycle"), paint("none yet", "yellow"))
    else:
        facts.add_row(
            paint("Last cycle"),
            paint(
                f"{cycle['started']} ({ago(cycle['age_s'])}): {plural(cycle['rows'], 'row')}, "
                f"{cycle['ok']} ok, {cycle['failed']} failed, {_seconds(cycle['duration_s'])}",
                "red" if status["cron_stale"] else "",
            ),
        )
    facts.add_row(
        paint("Buffer"),
        paint(
            f"{plural(status['buffer_rows'], 'row')}; pending "
            f"{plural(status['pending_batches'], 'batch', 'batches')}, "
            f"{plural(status['pending_rows'], 'row')}"
        ),
    )
    error = status["last_error"]
    if error is None:
        facts.add_row(paint("Last error"), paint("none"))
    else:
        where = f"{error['at'] or 'time unknown'} in {error['where']}"
        facts.add_row(paint("Last error"), paint(f"{where}: {error['message']}", "red"))
    push = status["last_push"]
    if push is None:
        facts.add_row(paint("Last push"), paint("never"))
    else:
        rows = "? rows" if push["rows"] is None else plural(push["rows"], "row")
        facts.add_row(
            paint("Last push"),
            paint(
                f"{push['at'] or 'time unknown'} ({ago(push['age_s'])}): {rows}"
                + ("" if push["commit_url"] else ", no commit URL")
            ),
        )
    return facts


WIDE = 110  # columns a terminal needs for the whole provider table
PROVIDER_COLUMNS = (
    "provider", "state", "calls", "success", "uptime 24h", "p50 ms", "p95 ms", "TTFT",
    "tok/s", "answer", "errors",
)  # fmt: skip
NARROW_DROPS = ("calls", "uptime 24h", "p95 ms", "errors")


def _provider_table(status: dict[str, Any], window: str, paint: _Paint, *, narrow: bool) -> Table:
    """Worst provider first. Below WIDE columns, four columns are left out (the errors go in
    lines under the table), so names and figures stay whole at 80 columns."""
    table = _titled_table(
        f"Providers, last {window} ({plural(status['window_rows'], 'row')}), worst first",
        paint,
        caption=_error_lines(status["providers"]) if narrow else None,
    )
    columns = [name for name in PROVIDER_COLUMNS if not (narrow and name in NARROW_DROPS)]
    for name in columns:
        left = name in ("provider", "state", "errors")
        table.add_column(name, justify="left" if left else "right", no_wrap=name != "errors")
    for p in status["providers"]:
        cells = {
            "provider": paint(p["provider"]),
            "state": paint(p["state"], _STATE_STYLES.get(p["state"], "")),
            "calls": paint(str(p["calls"])),
            "success": paint(_percent(p["success_rate"]), _health(p["success_rate"], 0.99, 0.9)),
            "uptime 24h": paint(_percent(p["uptime_24h"]), _health(p["uptime_24h"], 0.99, 0.9)),
            "p50 ms": paint(_ms(p["p50_ms"])),
            "p95 ms": paint(_ms(p["p95_ms"])),
            "TTFT": paint(_ms(p["p50_ttft_ms"])),
            "tok/s": paint(
                "-" if p["p50_tokens_per_s"] is None else f"{p['p50_tokens_per_s']:.0f}"
            ),
            "answer": paint(
                _percent(p["answer_correct_rate"]), _health(p["answer_correct_rate"], 0.9, 0.5)
            ),
            "errors": paint(_errors(p), "red"),
        }
        table.add_row(*(cells[name] for name in columns))
    return table


# (key, header on a wide terminal, header below CATALOG_WIDE or None: left out there)
CATALOG_COLUMNS = (
    ("provider", "provider", "provider"),
    ("ttft", "TTFT p50", "TTFT"),
    ("ttft_p95", "p95", None),
    ("ttft_advertised", "advertised", None),
    ("ttft_ratio", "ratio", "ratio"),
    ("speed", "tok/s", "tok/s"),
    ("speed_advertised", "advertised", None),
    ("speed_ratio", "ratio", "ratio"),
    ("failed_live", "failed live", "fails"),
    ("spent", "spent", "spent"),
    ("per_day", "a day", None),
)
CATALOG_WIDE = 130  # columns the whole catalog table needs
PLAIN_WIDTH = CATALOG_WIDE  # the width of the text view when it is not on a terminal


def _against_catalog(provider: dict[str, Any]) -> bool:
    """Whether the router's catalog or a price said anything about this provider."""
    keys = ("advertised_ttft_ms", "advertised_tokens_per_s", "cost_usd")
    return any(provider[key] is not None for key in keys) or provider["failed_while_live"] > 0


def _catalog_table(status: dict[str, Any], window: str, paint: _Paint, *, narrow: bool) -> Table:
    """What each provider gave against what the router's catalog advertised (ratio: measured /
    advertised; above 1 for TTFT and below 1 for speed is worse), the calls that failed while
    the catalog said `live`, and the money spent, with its pace per day. Narrow: the ratios
    without the advertised figures, no p95, no pace."""
    title = f"Measured against the router's catalog, last {window}"
    if narrow:
        title += " (ratio: measured / advertised; fails: failed while listed live)"
    table = _titled_table(title, paint)
    columns = [(key, short if narrow else wide) for key, wide, short in CATALOG_COLUMNS]
    shown = [(key, label) for key, label in columns if label is not None]
    for key, label in shown:
        table.add_column(label, justify="left" if key == "provider" else "right", no_wrap=True)
    for p in status["providers"]:
        cells = {
            "provider": paint(p["provider"]),
            "ttft": paint(_ms(p["p50_ttft_ms"])),
            "ttft_p95": paint(_ms(p["p95_ttft_ms"])),
            "ttft_advertised": paint(_ms(p["advertised_ttft_ms"])),
            "ttft_ratio": paint(_times(p["ttft_vs_advertised"])),
            "speed": paint(_figure(p["p50_tokens_per_s"])),
            "speed_advertised": paint(_figure(p["advertised_tokens_per_s"])),
            "speed_ratio": paint(_times(p["speed_vs_advertised"])),
            "failed_live": paint(
                str(p["failed_while_live"]), "red" if p["failed_while_live"] else ""
            ),
            "spent": paint(_usd(p["cost_usd"])),
            "per_day": paint(_usd(p["cost_per_day_usd"], digits=2)),
        }
        table.add_row(*(cells[key] for key, _ in shown))
    return table


def _titled_table(title: str, paint: _Paint, caption: str | None = None) -> Table:
    """A table of the status text: titled on the left, a caption (red) under it; a simple box
    in colour, ASCII in plain text."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE if paint.color else box.ASCII2,
        header_style="bold" if paint.color else "",
        title_style="bold" if paint.color else "",
        caption_style="red" if paint.color else "",
    )


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _usd(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"${value:.{digits}f}"


def _errors(provider: dict[str, Any]) -> str:
    return ", ".join(f"{name} {count}" for name, count in provider["errors"].items())


def _error_lines(providers: list[dict[str, Any]]) -> str | None:
    lines = [f"{p['provider']}: {_errors(p)}" for p in providers if p["errors"]]
    return "Errors: " + "; ".join(lines) if lines else None


_STATE_STYLES = {"up": "green", "degraded": "yellow", "down": "red"}


# --- the dry-run plan ------------------------------------------------------------------------


def render_plan(
    calls: list[Call],
    *,
    table: bool,
    base_url: str = "",
    width: int | None = None,
    estimate: Estimate | None = None,
    interval_s: float = 300.0,
) -> str:
    """The planned calls: a table for a person, else one JSON object per call (full values,
    with the call's worst-case cost when an estimate is given)."""
    if table:
        text = _plan_table(calls, base_url, width)
        return text + (_cost_lines(estimate, interval_s, width) if estimate else "")
    lines = []
    for index, call in enumerate(calls):
        plan: dict[str, Any] = {
            "model_id": call.model_id,
            "provider_name": call.provider_name,
            "provider_model_id": call.provider_model_id,
            "request_url": call.url,
            "request_body": json.loads(call.body),
        }
        if call.skip_reason:
            plan["skip_reason"] = call.skip_reason
        if estimate is not None:
            plan["worst_case_cost_usd"] = estimate.per_call[index]
        lines.append(json.dumps(plan, ensure_ascii=False) + "\n")
    return "".join(lines)


def _cost_lines(estimate: Estimate, interval_s: float, width: int | None) -> str:
    """The worst case in words: every call answering MAX_TOKENS_DEFAULT tokens."""
    import shutil
    import textwrap

    width = width or shutil.get_terminal_size((100, 24)).columns
    if not estimate.known:
        text = (
            f"Worst case: unknown, no price for any of the {plural(len(estimate.unpriced), 'call')}"
            " (neither the router's catalog nor the listing gave one)."
        )
        return "\n".join(textwrap.wrap(text, width)) + "\n"
    text = (
        f"Worst case (every call answers MAX_TOKENS_DEFAULT tokens): ${estimate.cycle_usd:.4f}"
        f" a cycle, ${estimate.per_day_usd(interval_s):.2f} a day at one cycle every"
        f" {interval_s:g} s ({plural(estimate.priced, 'call')} priced)."
    )
    if estimate.unpriced:
        text += f" No price for {plural(len(estimate.unpriced), 'call')}: "
        text += ", ".join(estimate.unpriced) + "."
    return "\n".join(textwrap.wrap(text, width)) + "\n"


def _plan_table(calls: list[Call], base_url: str, width: int | None) -> str:
    """Readable at 80 columns: each model once, over its calls; the base URL once and the
    route per call; the body's model only where it is not the providerId. A long id ends in
    an ellipsis rather than break mid-word (the JSON output has every value whole)."""
    import shutil
    import textwrap

    width = width or shutil.get_terminal_size((100, 24)).columns
    skipped = [call for call in calls if call.skip_reason]
    title = (
        f"{plural(len(calls) - len(skipped), 'call')} planned, "
        f"{plural(len(skipped), 'pair')} skipped (no call); routes under {base_url}"
    )
    rows: list[tuple[str, list[str]]] = []
    for call in calls:
        sent = str(json.loads(call.body)["model"])
        if sent.startswith(f"{call.model_id}:"):
            sent = "<model>" + sent.removeprefix(call.model_id)
        if call.skip_reason:
            route, sent = "(not called)", ""
        else:
            route = call.url.removeprefix(base_url)
            sent = "" if sent == call.provider_model_id else sent
        rows.append((call.model_id, [call.provider_name, call.provider_model_id, route, sent]))
    names = ["provider", "providerId", "route", "body model"]
    if not any(cells[3] for _, cells in rows):
        names.pop()
    columns = [[name, *(cells[i] for _, cells in rows)] for i, name in enumerate(names)]
    indent = "  "
    room = width - len(indent) - 2 * (len(names) - 1)
    widths = _fit([max(map(len, column)) for column in columns], room, keep=(0, 2))

    def line(cells: list[str]) -> str:
        cells = cells[: len(names)]  # without the body model column when no call needs it
        fitted = [
            _ellipsis(cell, size).ljust(size) for cell, size in zip(cells, widths, strict=True)
        ]
        return (indent + "  ".join(fitted)).rstrip()

    out = [*textwrap.wrap(title, width), line(names)]
    previous = None
    for model, cells in rows:
        if model != previous:
            out.append(_ellipsis(model, width))
            previous = model
        out.append(line(cells))
    for call in skipped:
        out += textwrap.wrap(f"Not called: {call.model_id} on {call.skip_reason}", width)
    if calls:
        shared = {**json.loads(calls[0].body), "model": "<per call>"}
        out += textwrap.wrap(f"Every body: {json.dumps(shared, ensure_ascii=False)}", width)
    return "\n".join(out) + "\n"


def _ellipsis(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(size - 1, 0)] + "…"


def _fit(desired: list[int], room: int, keep: tuple[int, ...] = ()) -> list[int]:
    """Column widths within `room`: the widest column gives way first, the columns in `keep`
    only once the others are down to 16 characters."""
    widths = list(desired)
    while sum(widths) > room:
        others = [i for i, w in enumerate(widths) if i not in keep and w > 16]
        candidates = others or [i for i, w in enumerate(widths) if w > 4]
        if not candidates:
            break
        widths[max(candidates, key=lambda i: widths[i])] -= 1
    return widths


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


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 row', '2 rows'; `words` for an irregular plural."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _seconds(value: object) -> str:
    return f"{value:g} s" if isinstance(value, int | float) else "? s"


def _window_label(hours: int) -> str:
    return f"{hours // 24} days" if hours % 24 == 0 and hours > 24 else f"{hours} h"


def _short(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def span(seconds: float) -> str:
    """A duration, coarse: '45s', '5m', '1h 5m', '2d 3h'."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)}s"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def ago(age: object) -> str:
    """How long ago, in words: '42 s ago', '3 min ago', '2.5 h ago'."""
    if not isinstance(age, int | float):
        return "time unknown"
    if age < 0:
        return "in the future: check the clock"
    if age < 90:
        return f"{age:.0f} s ago"
    if age < 90 * 60:
        return f"{age / 60:.0f} min ago"
    if age < 48 * 3600:
        return f"{_short(age / 3600)} h ago"
    return f"{_short(age / 86400)} days ago"
