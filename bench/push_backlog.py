"""Target 5: a backlog of 500 pending batches goes to the Hub in one commit, in under 30 s.

Two days of outage at one batch per cycle leave ~500 sealed batches in STATE_DIR/pending/
(default here: 500 batches of one 30-row cycle each, 15,000 rows). `tracker push` runs against
the fake Hub (tests/fakes/hub.py, in its own process, spoken to by the real huggingface_hub
client) in shard mode (the default HF_DATASET_TARGET_FILENAME, one file per batch). Checked:
exit 0, exactly one new commit holding every batch file and every row, nothing left pending.

Run: .venv/bin/python bench/push_backlog.py [--batches 500] [--cycles-per-batch 1] [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import io
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import REPO, clean_env, machine, run, sample_cycle, tracker_command, verdict

HUB_TOKEN = "hf_" + "c" * 34
DATASET = "bench/inference-metrics"
TARGET_S = 30.0


@contextlib.contextmanager
def fake_hub() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.hub", "--repo", DATASET, "--token", HUB_TOKEN],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"fake Hub did not start (exit {process.poll()})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def hub_state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fake/state", timeout=60) as answer:  # noqa: S310
        state: dict[str, Any] = json.load(answer)["repos"][f"dataset/{DATASET}"]
        return state


def write_backlog(folder: Path, batches: int, cycles_per_batch: int) -> int:
    """Sealed batches in pending/, named and shaped as Store.seal() leaves them. Returns rows."""
    from inference_tracker.csvfile import encode_rows
    from inference_tracker.store import batch_id_for

    pending = folder / ".tracker" / "pending"
    pending.mkdir(parents=True)
    start = datetime.now(UTC) - timedelta(minutes=5 * batches * cycles_per_batch)
    template = sample_cycle(start, 0)
    total = 0
    for b in range(batches):
        rows = []
        for c in range(cycles_per_batch):
            n = b * cycles_per_batch + c
            stamp = (start + timedelta(minutes=5 * n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            rows += [{**row, "cycle_timestamp_iso": stamp} for row in template]
        data = encode_rows(rows, header=True)
        (pending / f"{batch_id_for(rows, data)}.csv").write_bytes(data)
        total += len(rows)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--cycles-per-batch", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="10 batches")
    args = parser.parse_args()
    if args.smoke:
        args.batches = 10
    print(f"# push backlog - {machine()}")
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder, fake_hub() as url:
        cwd = Path(folder)
        rows = write_backlog(cwd, args.batches, args.cycles_per_batch)
        size = sum(p.stat().st_size for p in (cwd / ".tracker" / "pending").iterdir())
        print(
            f"{args.batches} pending batches of {args.cycles_per_batch} cycle(s), {rows} rows, "
            f"{size / 1e6:.1f} MB, to the fake Hub at {url}"
        )
        before = hub_state(url)
        env = clean_env(
            HF_HUB_TOKEN=HUB_TOKEN,
            HF_DATASET_REPO_ID=DATASET,
            HF_ENDPOINT=url,
            LOCAL_CSV_PATH=cwd / "metrics_buffer.csv",
            PROBE_ID="bench",
        )
        done = run([*tracker_command(), "push"], env, cwd, timeout=300)
        if done.code != 0:
            sys.exit(f"tracker push exited {done.code}:\n{done.stderr[-2000:]}")
        after = hub_state(url)
        commits = len(after["history"]) - len(before["history"])
        shards = {p: d for p, d in after["files"].items() if p.endswith(".csv")}
        on_hub = sum(_rows(base64.b64decode(d)) for d in shards.values())
        left = list((cwd / ".tracker" / "pending").iterdir())
        print(
            f"tracker push: {done.wall_s:.2f} s wall, CPU user {done.user_s:.2f} s sys "
            f"{done.sys_s:.2f} s, peak RSS {done.max_rss_mb:.0f} MB; {commits} commit(s), "
            f"{len(shards)} files, {on_hub} rows on the Hub, {len(left)} batches left pending"
        )
        ok = commits == 1 and len(shards) == args.batches and on_hub == rows and not left
        if not ok:
            sys.exit("FAIL: the backlog did not land whole in one commit")
        if args.smoke:
            print("smoke run: not judged")
        else:
            print(f"target one commit in < {TARGET_S:g} s: {verdict(done.wall_s < TARGET_S)}")


def _rows(data: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline=""))) - 1


if __name__ == "__main__":
    main()
