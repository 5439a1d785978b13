"""Start-up time of the CLI: median wall time of `tracker --help` and `tracker status`.

Run by hand: `.venv/bin/python bench/startup.py [runs]` (default 10 runs per command). Each run
is a fresh subprocess; `status` runs in an empty temporary folder with no settings, so it reads
nothing but its own empty state. Prints one line per command, in milliseconds.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tracker_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("tracker")
    return [str(script)] if script.exists() else [sys.executable, "-m", "inference_tracker"]


def median_ms(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return statistics.median(times), min(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    tracker = tracker_command()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
        cwd = Path(folder)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HF_") and key not in ("LOCAL_CSV_PATH", "STATE_DIR")
        }
        env["LOCAL_CSV_PATH"] = str(cwd / "metrics_buffer.csv")
        print(f"{runs} runs each, {' '.join(tracker)}")
        for args in (["--help"], ["status"], ["status", "--json"]):
            median, best = median_ms([*tracker, *args], runs, cwd, env)
            print(f"tracker {' '.join(args):<14} median {median:7.1f} ms   min {best:7.1f} ms")


if __name__ == "__main__":
    main()
