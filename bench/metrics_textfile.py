"""What PROMETHEUS_TEXTFILE costs a cycle: collect reads a week of stored rows to write it.

With PROMETHEUS_TEXTFILE set, every `tracker collect` writes the Prometheus textfile after its
cycle, from the rows of the last 7 days on disk (buffer, pending batches, archive). This script
stores `--days` of cycles (288 a day, `--models` x 6 providers a cycle, one in seven an HTTP
503, pushed every 6 cycles, as startup.py's day of data) and times `tracker collect --no-push`
on an empty listing (no call: the fixed cost of a cycle) with and without the setting,
alternating, `--runs` times each: median wall time and peak RSS. No target of its own; for
scale, target 2 allows a whole 2,000-call cycle 300 MB.

Run: .venv/bin/python bench/metrics_textfile.py [--days 7] [--models 5] [--runs 5] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from harness import FAKE_TOKEN, machine, median, run, sample_cycle, tracker_command


def write_days(folder: Path, cycles: int, models: int) -> int:
    """`cycles` cycles of `models` x 6 rows, pushed every 6 cycles; returns the rows."""
    from inference_tracker.record import iso_ms, summarise
    from inference_tracker.state import PushNote, State
    from inference_tracker.store import Store

    store = Store(folder / "metrics_buffer.csv", folder / ".tracker")
    now = datetime.now(UTC)
    total = 0
    for n in range(cycles):
        start = now - timedelta(minutes=5 * (cycles - n))
        rows = sample_cycle(start, n, models)
        total += len(rows)
        store.append_cycle(rows, summarise(rows, iso_ms(start), duration_s=2.0))
        if (n + 1) % 6 == 0 and n + 1 < cycles:
            batch = store.seal()
            if batch is not None:
                store.archive([batch], start)
                note = PushNote(at=iso_ms(start), rows=6 * len(rows), cycles=6, batches=1, files=1)
                store.update_state(partial(State.record_push, note=note))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--models", type=int, default=5, help="x 6 providers = rows a cycle")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="12 cycles, one run each")
    args = parser.parse_args()
    cycles = 12 if args.smoke else round(args.days * 288)
    runs = 1 if args.smoke else args.runs
    print(f"# metrics textfile - {machine()}")
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as name:
        folder = Path(name)
        rows = write_days(folder, cycles, args.models)
        size = sum(path.stat().st_size for path in folder.rglob("*.csv"))
        print(f"{cycles} cycles stored, {rows} rows, {size / 1e6:.1f} MB of CSV")
        listing = folder / "listing.json"
        listing.write_text('{"models": [], "numTotalItems": 0}')
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HF_") and key not in ("PYTHONDONTWRITEBYTECODE",)
        }
        # The catalog is fetched by every collect: from a closed local port, refused at once.
        env.update(HF_TOKEN=FAKE_TOKEN, ROUTER_BASE_URL="http://127.0.0.1:9")
        argv = [*tracker_command(), "collect", "--no-push", "--models-file", str(listing)]
        textfile = folder / "tracker.prom"
        cases = {"PROMETHEUS_TEXTFILE unset": env, "PROMETHEUS_TEXTFILE set": {
            **env, "PROMETHEUS_TEXTFILE": str(textfile)}}  # fmt: skip
        run(argv, env, folder)  # unmeasured: writes the .pyc files
        walls: dict[str, list[float]] = {label: [] for label in cases}
        peaks: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(runs):
            for label, case_env in cases.items():
                done = run(argv, case_env, folder)
                if done.code != 0:
                    raise SystemExit(f"collect exited {done.code}: {done.stderr[-1000:]}")
                walls[label].append(done.wall_s * 1000)
                peaks[label].append(done.max_rss_mb)
        for label in cases:
            print(
                f"collect (0 calls), {label:<26} median {median(walls[label]):6.0f} ms, "
                f"peak RSS {max(peaks[label]):5.0f} MB"
            )
        written = textfile.exists() and textfile.stat().st_size > 0
        print(f"textfile written: {'yes' if written else 'NO'}")
        if not written:
            raise SystemExit("FAIL: no textfile")


if __name__ == "__main__":
    main()
