"""The benchmarks in bench/ still run: each script once in its tiny --smoke mode.

Not a timing test: no number is judged here (bench/README.md holds the figures). The seven
scripts run side by side, each in its own process, so the whole smoke takes a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
# script -> a line its smoke run must print (the run checked its own results before printing it)
EXPECTED = {
    "cycle_latency.py": "smoke run: latencies scaled down, not judged",
    "scale.py": "every call measured",
    "timing_accuracy.py": "error vs server truth",
    "startup.py": "collect without a push imports huggingface_hub: no",
    "push_backlog.py": "1 commit(s), 10 files, 300 rows on the Hub, 0 batches left pending",
    "streaming.py": "20/20 calls ok and streamed",
    "metrics_textfile.py": "textfile written: yes",
}


@pytest.fixture(scope="module")
def smoke_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = {
        script: subprocess.Popen(
            [sys.executable, str(BENCH / script), "--smoke"],
            cwd=BENCH.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script in EXPECTED
    }
    done = {}
    limit = time.monotonic() + 120
    for script, process in started.items():
        try:
            out, err = process.communicate(timeout=max(1.0, limit - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        done[script] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_bench_script_runs(
    script: str, smoke_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = smoke_runs[script]
    assert result.returncode == 0, result.stderr[-3000:]
    assert EXPECTED[script] in result.stdout, result.stdout


def test_help_imports_neither_requests_nor_pydantic(
    smoke_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    """`tracker --help` starts fast because it leaves the heavy libraries alone."""
    lines = smoke_runs["startup.py"].stdout.splitlines()
    heavy = next(line for line in lines if line.strip().startswith("--help "))
    assert heavy.split()[1:] == ["-"], heavy  # none: plain click help, no rich, no requests
