"""The `tracker` command: parse, build the pieces, call them, render, pick the exit code.

This is the one place that reads the environment, the clock and the terminal, and the one
error boundary: a known failure (errors.EXIT_CODES) ends in a single `Error: ...` line on
stderr and its exit code; anything else is a bug and prints a scrubbed traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inference_tracker import USER_AGENT, __version__
from inference_tracker.clock import Clock
from inference_tracker.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ROWS_KEPT,
    ConfigError,
    LockBusy,
    PushError,
    PushNotRecorded,
    StoreError,
    exit_code_for,
)
from inference_tracker.logs import EventLog, is_terminal, route_library_logs
from inference_tracker.record import Scrubber, iso_ms
from inference_tracker.store import Store

if TYPE_CHECKING:
    import requests

    from inference_tracker.catalog import Estimate
    from inference_tracker.config import Settings
    from inference_tracker.discovery import Pair
    from inference_tracker.providers import ProviderMap
    from inference_tracker.record import Call

# Imported where used: pydantic (config) by the commands that read settings, requests (and the
# modules that use it) by collect alone, so `--help` and `status` start fast (bench/startup.py).

CHAINED_PUSH_LOCK_WAIT_SECONDS = 5.0  # a push already running is not waited out by collect
CLOCK = Clock()  # the clocks and retry pause of every command; tests swap it for a fake

app = typer.Typer(
    name="tracker",
    help="Measure Hugging Face Inference Providers and publish the rows to a dataset.",
    epilog=(
        "Settings come from the environment or ./.env (HF_TOKEN, HF_HUB_TOKEN, "
        "HF_DATASET_REPO_ID, ...; see README.md). Exit codes: 0 done, 1 failed, "
        "2 configuration error, 3 rows stored but the chained push failed, "
        "130/143 interrupted."
    ),
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help and usage errors: no boxes in cron logs
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"inference-tracker {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Measure Hugging Face Inference Providers and publish the rows to a dataset."""


# --- shared plumbing ------------------------------------------------------------------------


@dataclass
class Context:
    settings: Settings
    log: EventLog
    scrub: Scrubber


_NO_SECRETS = Scrubber(())


def _report(
    message: str,
    *,
    event: str,
    code: int,
    scrub: Callable[[str], str] = _NO_SECRETS,
    **fields: Any,
) -> None:
    """A failure, said once on stderr: `Error: ...` for a person at a terminal, one JSON log
    line (event, error, exit_code) under cron, so every line of a cron log parses."""
    if is_terminal(sys.stderr):
        if "traceback" in fields:
            sys.stderr.write(scrub(fields["traceback"]))
        sys.stderr.write(scrub(f"Error: {message}") + "\n")
        sys.stderr.flush()
        return
    log = EventLog(sys.stderr, "error", scrub=scrub, as_json=True)
    log.error(event, error=message, exit_code=code, **fields)


@contextlib.contextmanager
def _boundary(scrub: Callable[[str], str] = _NO_SECRETS) -> Iterator[None]:
    """Known errors become one report and their exit code; bugs a scrubbed traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:  # Ctrl-C before a cycle or a push had begun: nothing to keep
        _report("interrupted; nothing was changed", event="interrupted", code=EXIT_SIGINT)
        raise typer.Exit(EXIT_SIGINT) from None
    except BrokenPipeError:  # `tracker ... | head`: the reader has all it wanted
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_OK) from None
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            _report(
                "internal error (traceback above); please report it",
                event="internal_error",
                code=EXIT_FAILED,
                scrub=scrub,
                traceback=traceback.format_exc(),
            )
            raise typer.Exit(EXIT_FAILED) from None
        _report(str(exc), event=getattr(exc, "event", "failed"), code=code, scrub=scrub)
        raise typer.Exit(code) from None


def _context() -> Context:
    from inference_tracker.config import load_settings

    settings = load_settings()
    scrub = Scrubber(settings.secrets())
    log = EventLog(sys.stderr, settings.log_level, scrub=scrub)
    route_library_logs(log, settings.log_level)
    return Context(settings, log, scrub)


def _typos() -> list[str]:
    """Names in the environment or .env that look like misspelt settings."""
    from inference_tracker.config import env_file_in_use, unknown_setting_warnings

    return unknown_setting_warnings(os.environ, env_file_in_use())


def _store(ctx: Context) -> Store:
    return Store(
        ctx.settings.local_csv_path,
        ctx.settings.state_folder,
        on_wait=lambda what: ctx.log.warning("waiting_for_lock", lock=what),
        on_warning=lambda detail: ctx.log.warning("store_warning", detail=detail),
    )


class _Signals:
    """SIGTERM and SIGINT set `stop` instead of killing the process mid-write."""

    def __init__(self, on_first: Callable[[int], object] = lambda signum: None) -> None:
        self.stop = threading.Event()
        self.received: int | None = None
        self._on_first = on_first

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signum
        self.stop.set()
        if first:
            self._on_first(signum)

    def exit_code(self) -> int:
        return _exit_code_of(self.received)


def _exit_code_of(signum: int | None) -> int:
    return EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a push: the push stops where it is (it is safe anywhere)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM, like SIGINT, ends a push at once, as an exception the command can report."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- collect ---------------------------------------------------------------------------------


@app.command()
def collect(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the planned calls; call nothing, write nothing."),
    ] = False,
    no_push: Annotated[
        bool, typer.Option("--no-push", help="Never chain into push after this cycle.")
    ] = False,
    models_file: Annotated[
        Path | None,
        typer.Option("--models-file", help="Read the model listing from a saved models-json file."),
    ] = None,
) -> None:
    """Run one measurement cycle (what cron runs every 5 minutes)."""
    as_cron_runs_it = not dry_run and models_file is None  # else a usage error of this run
    with _boundary():
        try:
            ctx = _context()
        except ConfigError as exc:
            if as_cron_runs_it:
                from inference_tracker.config import storage_paths

                _note_config_error(storage_paths(), str(exc))  # scrubbed by load_settings
            raise
    with _boundary(ctx.scrub):
        for typo in _typos():
            ctx.log.warning("unknown_setting", detail=typo)
        try:
            code = _collect(ctx, dry_run=dry_run, no_push=no_push, models_file=models_file)
        except ConfigError as exc:
            if as_cron_runs_it:
                paths = ctx.settings.local_csv_path, ctx.settings.state_folder
                _note_config_error(paths, ctx.scrub(str(exc)))
            raise
    raise typer.Exit(code)


def _note_config_error(paths: tuple[Path, Path] | None, message: str) -> None:
    """A setting that stops collect before its cycle, recorded where status finds it: under
    cron, the log alone would leave status asking whether cron runs at all. Only into a
    STATE_DIR that exists: a cron line without `cd` (HF_TOKEN unset in $HOME) must not make a
    tracker's folders where none ever ran."""
    if paths is None or not paths[1].is_dir():
        return
    with contextlib.suppress(StoreError, OSError):  # the configuration error is the news
        Store(*paths).note_error("config", message, CLOCK.wall())


def _collect(ctx: Context, *, dry_run: bool, no_push: bool, models_file: Path | None) -> int:
    from inference_tracker.discovery import read_models_file
    from inference_tracker.providers import load_provider_map

    settings = ctx.settings
    providers = load_provider_map(settings.provider_endpoint_mapping_path)
    if not dry_run and settings.hf_token is None:
        raise ConfigError("HF_TOKEN is not set; collect needs it for the inference calls")
    saved = read_models_file(models_file) if models_file is not None else None
    signals = _Signals(on_first=lambda signum: _say_stopping(ctx, signum))
    with signals.installed() if not dry_run else contextlib.nullcontext():
        counter = _cycle(ctx, providers, signals, dry_run=dry_run, saved_listing=saved)
        # Still under the handlers: the rows are stored, a signal now must not read as
        # "nothing was changed".
        if counter is not None and settings.prometheus_textfile is not None:
            _write_metrics(ctx, settings.prometheus_textfile)
    if signals.received is not None:
        return signals.exit_code()
    if counter is None or no_push or counter % settings.push_interval_cycles != 0:
        return EXIT_OK
    try:
        with _interruptible():  # a push is safe to cut anywhere
            pushed = _chained_push(ctx, _store(ctx))
    except Interrupted as stop:
        _report_interrupted_push(ctx, stop.signum)
        return _exit_code_of(stop.signum)
    if pushed and settings.prometheus_textfile is not None:  # what the push changed, at once
        _write_metrics(ctx, settings.prometheus_textfile)
    return EXIT_OK if pushed else EXIT_PARTIAL


def _estimate(
    ctx: Context, session: requests.Session, pairs: list[Pair], calls: list[Call]
) -> Estimate:
    """The dry run's worst-case cost, at the prices of the router's catalog (fetched now; when
    it fails, the listing's prices alone, with a warning)."""
    from inference_tracker.catalog import fetch_catalog, worst_case
    from inference_tracker.errors import ListingError

    settings = ctx.settings
    try:
        catalog = fetch_catalog(session, settings.router_base_url, USER_AGENT, CLOCK)
    except ListingError as exc:
        ctx.log.warning("catalog_missing", reason=str(exc))
        catalog = {}
    called = [not call.skip_reason for call in calls]
    estimate = worst_case(pairs, called, catalog, settings.prompt, settings.max_tokens_default)
    day_usd = estimate.per_day_usd(settings.schedule_interval_seconds)
    ctx.log.info(
        "worst_case_cost",
        cycle_usd=round(estimate.cycle_usd, 6) if estimate.known else None,
        day_usd=round(day_usd, 4) if estimate.known else None,
        unpriced=estimate.unpriced,
    )
    return estimate


def _say_stopping(ctx: Context, signum: int) -> None:
    """Said at once on the first SIGINT or SIGTERM of a cycle."""
    from inference_tracker.cycle import STOP_GRACE_SECONDS  # loaded by then: collect uses it

    ctx.log.warning(
        "stopping",
        signal=signal.Signals(signum).name,
        detail=f"no new calls; the calls in flight get up to {STOP_GRACE_SECONDS:g} s,"
        " then what was measured is stored",
    )


def _cycle(
    ctx: Context,
    providers: ProviderMap,
    signals: _Signals,
    *,
    dry_run: bool,
    saved_listing: list[Any] | None,
) -> int | None:
    """Measure and store one cycle; the new cycle counter, or None when nothing was stored."""
    from inference_tracker import render
    from inference_tracker.catalog import Background, fetch_catalog
    from inference_tracker.cycle import Began, CallTemplate, plan_calls, run_cycle
    from inference_tracker.discovery import fetch_models, live_pairs
    from inference_tracker.errors import ListingError
    from inference_tracker.net import make_session

    settings, log = ctx.settings, ctx.log
    session = make_session(settings.max_concurrency)
    began = Began.now(CLOCK, settings.deadline_seconds)
    store = _store(ctx)
    log.info("cycle_started", cycle=iso_ms(began.wall), dry_run=dry_run)
    try:
        if saved_listing is not None:
            models = saved_listing
        else:
            models = fetch_models(
                session,
                settings.models_api_url,
                settings.models_to_fetch,
                USER_AGENT,
                began.deadline,
                CLOCK,
                retries=settings.max_retries,
                stop=signals.stop,
                log=log,
            )
    except ListingError as exc:  # reported once, by the error boundary
        if signals.stop.is_set():  # a signal while it waited to try again: not a failure
            log.warning("cycle_interrupted", stored_rows=0)
            return None
        if not dry_run:
            store.note_error("listing", str(exc), began.wall)
        raise
    pairs = live_pairs(models, settings.models_to_fetch, log)
    model_ids = sorted({pair.model_id for pair in pairs})
    listed = min(len(models), settings.models_to_fetch)
    log.info("models_fetched", count=len(model_ids), ids=model_ids, pairs=len(pairs))
    if not pairs:
        log.warning(
            "nothing_to_measure",
            models=listed,
            pairs=0,
            hint="the listing gave no live (model, provider) pair: check MODELS_API_URL",
        )
    template = CallTemplate(
        router_base_url=settings.router_base_url,
        prompt=settings.prompt,
        max_tokens=settings.max_tokens_default,
        user_agent=USER_AGENT,
        bill_to=settings.hf_bill_to,
        stream=settings.stream,
    )
    calls = plan_calls(pairs, providers, template, log)
    if dry_run:
        if settings.hf_token is None:
            log.warning("no_token", detail="HF_TOKEN is not set: a real collect would fail")
        estimate = _estimate(ctx, session, pairs, calls)
        plan = render.render_plan(
            calls,
            table=is_terminal(sys.stdout),
            base_url=settings.router_base_url,
            estimate=estimate,
            interval_s=settings.schedule_interval_seconds,
        )
        sys.stdout.write(ctx.scrub(plan))
        return None
    if signals.stop.is_set():
        log.warning("cycle_interrupted", stored_rows=0)
        return None
    catalog = Background(
        lambda: fetch_catalog(session, settings.router_base_url, USER_AGENT, CLOCK), log
    )  # alongside the calls, never waited for
    stored = run_cycle(
        session,
        pairs,
        calls,
        settings,
        store,
        catalog=catalog,
        began=began,
        models_listed=listed,
        stop=signals.stop,
        log=log,
        scrub=ctx.scrub,
        clock=CLOCK,
    )
    if stored.summary.interrupted:
        log.warning(
            "cycle_interrupted",
            signal=signal.Signals(signals.received or signal.SIGTERM).name,
            stored_rows=len(stored.rows),
            not_measured=len(calls) - len(stored.rows),
        )
    return stored.counter


def _write_metrics(ctx: Context, path: Path) -> None:
    """The Prometheus textfile after the cycle, from the last 7 days on disk. It is a view of
    the data: failing to write it, even by a bug, is a warning, never the cycle's failure
    (the rows are stored and a push may be due)."""
    from inference_tracker import metrics
    from inference_tracker.states import Thresholds

    thresholds = Thresholds.from_settings(ctx.settings)
    try:
        metrics.write_metrics(
            _store(ctx),
            path,
            now=CLOCK.wall(),
            thresholds=thresholds,
            pushing=bool(ctx.settings.hf_dataset_repo_id),
        )
    except StoreError as exc:
        ctx.log.warning("metrics_not_written", error=str(exc))
    except Exception as exc:
        ctx.log.warning("metrics_not_written", error=f"{type(exc).__name__}: {exc}")
    else:
        ctx.log.debug("metrics_written", path=str(path))


def _chained_push(ctx: Context, store: Store) -> bool:
    """Push after the cycle. The rows are stored either way: a failure only delays them, so
    it is exit 3 whatever it was (the one deliberate exception to the error table)."""
    ctx.log.info("push_due", interval=ctx.settings.push_interval_cycles)
    try:
        _push(ctx, store, lock_wait=CHAINED_PUSH_LOCK_WAIT_SECONDS, show=is_terminal(sys.stdout))
    except LockBusy:  # a push is running now; it or the next one takes these rows
        ctx.log.info("push_skipped", reason="another push is running; the rows go with the next")
        return True
    except PushNotRecorded as exc:  # the rows are in the dataset: not "kept for the next"
        _report(str(exc), event=exc.event, code=EXIT_PARTIAL, scrub=ctx.scrub)
        return False
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            _report(
                "push failed with an internal error (traceback above); the rows are kept",
                event="internal_error",
                code=EXIT_PARTIAL,
                scrub=ctx.scrub,
                traceback=traceback.format_exc(),
            )
            return False
        if not isinstance(exc, PushError):  # push_pending noted its own failure
            store.note_error("push", str(exc), CLOCK.wall())
        _report(
            f"{ROWS_KEPT}: {exc}",
            event="push_failed",
            code=EXIT_PARTIAL,
            scrub=ctx.scrub,
        )
        return False
    return True


# --- push ------------------------------------------------------------------------------------


@app.command(short_help="Upload every pending row to the dataset now.")
def push() -> None:
    """Upload every pending row to the dataset now, whatever the cycle counter says."""
    with _boundary():
        ctx = _context()
    with _boundary(ctx.scrub):
        try:
            with _interruptible():
                _push(ctx, _store(ctx))
        except PushError as exc:
            raise PushError(f"{ROWS_KEPT}: {exc}") from None
        except Interrupted as stop:
            _report_interrupted_push(ctx, stop.signum)
            raise typer.Exit(_exit_code_of(stop.signum)) from None
    raise typer.Exit(EXIT_OK)


def _report_interrupted_push(ctx: Context, signum: int) -> None:
    _report(
        f"push interrupted ({signal.Signals(signum).name}); every row is kept and goes with"
        " the next push",
        event="push_interrupted",
        code=_exit_code_of(signum),
        scrub=ctx.scrub,
    )


def _push(ctx: Context, store: Store, lock_wait: float | None = None, *, show: bool = True) -> None:
    """Seal the buffer and publish every pending batch (publish.py holds the Hub side)."""
    from inference_tracker.publish import destination_from_settings, push_pending
    from inference_tracker.states import Thresholds

    destination = destination_from_settings(ctx.settings)
    result = push_pending(
        store,
        destination,
        ctx.log,
        CLOCK.wall(),
        clock=CLOCK,
        lock_wait=lock_wait,
        thresholds=Thresholds.from_settings(ctx.settings),
    )
    if not show:
        return
    if not is_terminal(sys.stdout):  # for scripts: one JSON object
        line = json.dumps(
            {"repo_id": destination.repo_id, **dataclasses.asdict(result)}, ensure_ascii=False
        )
    elif result.commit_url:
        line = f"Pushed {result.rows} rows to {destination.repo_id}: {result.commit_url}"
    elif result.batches:
        line = f"Already on the Hub: {result.rows} rows ({destination.repo_id})"
    else:
        line = "Nothing to push."
    sys.stdout.write(ctx.scrub(line) + "\n")


# --- check -----------------------------------------------------------------------------------


@app.command(short_help="Verify the set-up in seconds, writing nothing.")
def check(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the lines.")
    ] = False,
) -> None:
    """Verify the set-up in seconds, writing nothing: settings, providers.toml, storage,
    the listing, HF_TOKEN, and write access to the dataset. Run it after setting up.

    Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 a configuration
    error."""
    from inference_tracker import check as checks
    from inference_tracker.config import env_file_in_use
    from inference_tracker.net import make_session

    with _boundary():
        try:
            ctx = _context()
        except ConfigError as exc:  # the checklist (or a script reading --json) says it too
            failed = checks.CheckResult("settings", checks.FAIL, str(exc), config=True)
            sys.stdout.write(_NO_SECRETS(checks.render_checks([failed], as_json=as_json)) + "\n")
            raise
    with _boundary(ctx.scrub):
        results = checks.run_checks(
            ctx.settings,
            session=make_session(4),
            clock=CLOCK,
            warnings=_typos(),
            dotenv=env_file_in_use(),
        )
        sys.stdout.write(ctx.scrub(checks.render_checks(results, as_json=as_json)) + "\n")
    raise typer.Exit(checks.exit_code(results))


# --- status ----------------------------------------------------------------------------------


@app.command(short_help="Show whether the tracker and the providers are healthy.")
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the summary.")
    ] = False,
    since: Annotated[
        str, typer.Option("--since", help="Window of the provider table: 1h, 6h, 24h or 7d.")
    ] = "24h",
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="One line, exit 0 when the tracker itself is healthy, 1 when not (for"
            " health-check pingers); provider states never change it.",
        ),
    ] = False,
) -> None:
    """Show whether the tracker and the providers are healthy (local files only, no network)."""
    from inference_tracker import render, report  # lazy: keeps other commands' start-up lean
    from inference_tracker.config import env_file_in_use
    from inference_tracker.snapshot import read_snapshot
    from inference_tracker.states import Thresholds
    from inference_tracker.stats import WEEK_HOURS

    with _boundary():
        if since not in report.WINDOWS:
            choices = ", ".join(report.WINDOWS)
            raise ConfigError(f"--since must be one of {choices} (got {since!r})")
        ctx = _context()
    with _boundary(ctx.scrub):
        now, hours = CLOCK.wall(), report.WINDOWS[since]
        store = Store(ctx.settings.local_csv_path, ctx.settings.state_folder)  # read only
        # Provider states look back 7 days (uptime_7d, the latency baseline), whatever the
        # window of the table, so that they agree with the metrics file and the leaderboard.
        # --check judges the tracker alone: the window's archive is all it needs to read.
        snapshot = read_snapshot(store, now=now, hours=hours if check else WEEK_HOURS)
        view = report.SettingsView.from_settings(ctx.settings, env_file_in_use())
        thresholds = Thresholds.from_settings(ctx.settings)
        status = report.build_status(snapshot, view, now=now, hours=hours, thresholds=thresholds)
        status["warnings"] += _typos()
        data = report.scrub_all(status, ctx.scrub)
        if check:
            text = render.render_check(data)
        elif as_json:
            text = render.render_json(data)
        else:
            text = render.render_text(data, color=sys.stdout.isatty())
        sys.stdout.write(ctx.scrub(text))
        sys.stdout.flush()
    raise typer.Exit(EXIT_FAILED if check and not data["healthy"] else EXIT_OK)


def main() -> None:
    """The console script: usage errors and a Ctrl-C before a command has started are
    reported like every other failure (one JSON line under cron), never a traceback."""
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C in start-up (click makes it an Abort)
        _report("interrupted", event="interrupted", code=EXIT_SIGINT)
        code = EXIT_SIGINT
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        code = getattr(exc, "exit_code", EXIT_CONFIG)
        if is_terminal(sys.stderr):
            exc.show()  # type: ignore[attr-defined]  # click's own Usage/Try/Error lines
        else:
            message = exc.format_message()
            _report(message, event="usage_error", code=code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
