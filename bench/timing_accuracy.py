"""Target 4: recorded duration_ms is true under load.

Every provider answers after a fixed 300 ms; 40 models x 16 providers = 640 calls with
MAX_CONCURRENCY=64, so 64 calls are always in flight. Calls are streamed (the tracker's default):
after the 300 ms the fake streams the answer's 9 words at once; --no-stream sends STREAM=false
(one JSON answer). duration_ms runs to the end of the stream, so does the server's span. Two
truths for each call:

- nominal: the 300 ms the fake sleeps;
- server: what the fake router saw, from the request read to the answer written (its own
  scheduling under load included; the wall clocks of both processes are the same clock).

The error is recorded duration_ms minus the truth. Target: |median| <= 20 ms and p99 <= 100 ms
against the server truth; the nominal error is shown too. Also shown: the start lag (the server
read the request this long after the row's request_start_iso: time the client spent between
starting its clock and sending) and the end lag (the row's end after the answer was written).

Run: .venv/bin/python bench/timing_accuracy.py [--runs 1] [--no-stream] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime
from pathlib import Path

from harness import (
    buffer_rows,
    collect,
    collect_env,
    fake_router,
    machine,
    median,
    percentile,
    provider_names,
    verdict,
    world,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--providers", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--no-stream", action="store_true", help="STREAM=false: plain JSON answers, as before"
    )
    parser.add_argument("--smoke", action="store_true", help="5 x 4 calls")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.models, args.providers, args.latency = 1, 5, 4, 0.1
    providers = provider_names(args.providers)
    spec = world(args.models, providers, {"kind": "ok", "latency": args.latency})
    truth_ms = args.latency * 1000
    print(f"# timing accuracy - {machine()}")
    print(
        f"{args.models} x {args.providers} = {args.models * args.providers} calls, fixed "
        f"{truth_ms:g} ms latency, {'not streamed' if args.no_stream else 'streamed'}, "
        f"MAX_CONCURRENCY={args.concurrency}, {args.runs} run(s)"
    )
    nominal, server, start_lag, end_lag = [], [], [], []
    with fake_router(spec) as router:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
                cwd = Path(folder)
                env = collect_env(
                    router,
                    cwd,
                    MODELS_TO_FETCH=args.models,
                    MAX_CONCURRENCY=args.concurrency,
                    CYCLE_DEADLINE_SECONDS=240,
                    STREAM="false" if args.no_stream else "true",
                )
                collect(env, cwd)
                rows = buffer_rows(cwd)
                seen = {(t["path"], t["model"]): t for t in router.timings()}
                for row in rows:
                    assert row["error_class"] == "ok", row["error_message"]
                    duration = float(row["duration_ms"])
                    start = _epoch(row["request_start_iso"])
                    path = row["request_url"].removeprefix(router.url)
                    served = seen[(path, json.loads(row["request_body"])["model"])]
                    span = (served["answered"] - served["arrived"]) * 1000
                    nominal.append(duration - truth_ms)
                    server.append(duration - span)
                    start_lag.append((served["arrived"] - start) * 1000)
                    end_lag.append((start + duration / 1000 - served["answered"]) * 1000)
    print(f"{'(ms)':<34} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for label, values in (
        ("error vs server truth", server),
        ("error vs nominal 300 ms", nominal),
        ("start lag (clock start -> server)", start_lag),
        ("end lag (answer written -> end)", end_lag),
    ):
        print(
            f"{label:<34} {median(values):8.1f} {percentile(values, 90):8.1f} "
            f"{percentile(values, 99):8.1f} {max(values):8.1f}"
        )
    print("(start_iso has millisecond resolution, so the lags are +-1 ms)")
    med, p99 = median(server), percentile([abs(v) for v in server], 99)
    if args.smoke:
        print("smoke run: not judged")
    else:
        print(
            f"target |median error| <= 20 ms: {verdict(abs(med) <= 20)}; "
            f"p99 |error| <= 100 ms: {verdict(p99 <= 100)}"
        )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
