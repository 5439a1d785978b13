"""Target 1: a cycle lasts about as long as its slowest call, not the sum of the models.

5 models x 6 providers; each provider answers after a fixed latency, spread from 0.5 s to 4 s.
Times `tracker collect --no-push` from process start to exit (interpreter start-up, listing,
30 calls, CSV write) and compares it with the slowest call. Target: wall <= slowest + 1 s.
For scale, a design that awaited one model at a time would take 5 x 4 s = 20 s.

Run: .venv/bin/python bench/cycle_latency.py [--runs 3] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import (
    buffer_rows,
    collect,
    collect_env,
    fake_router,
    last_cycle,
    machine,
    median,
    provider_names,
    verdict,
    world,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="one run, latencies / 20")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs
    scale = 0.05 if args.smoke else 1.0
    providers = provider_names(6)
    latencies = [round((0.5 + i * 0.7) * scale, 3) for i in range(len(providers))]  # 0.5..4.0
    slowest = max(latencies)
    spec = world(args.models, providers, {"kind": "ok"})
    spec["behaviours"] = {
        name: {"kind": "ok", "latency": latency}
        for name, latency in zip(providers, latencies, strict=True)
    }
    print(f"# cycle vs slowest call - {machine()}")
    print(f"{args.models} models x {len(providers)} providers, latencies {latencies} s")
    walls, cycles, slowest_rows = [], [], []
    with fake_router(spec) as router:
        for n in range(runs):
            with tempfile.TemporaryDirectory(prefix="tracker-bench-") as folder:
                cwd = Path(folder)
                done = collect(collect_env(router, cwd), cwd)
                rows = buffer_rows(cwd)
                assert len(rows) == args.models * len(providers), len(rows)
                assert all(row["error_class"] == "ok" for row in rows)
                slowest_row = max(float(row["duration_ms"]) for row in rows) / 1000
                cycle_s = float(last_cycle(cwd)["duration_s"])
                print(
                    f"run {n + 1}: wall {done.wall_s:.3f} s, cycle (in-process) {cycle_s:.3f} s, "
                    f"slowest recorded call {slowest_row:.3f} s, "
                    f"ratio wall/slowest {done.wall_s / slowest:.3f}"
                )
                walls.append(done.wall_s)
                cycles.append(cycle_s)
                slowest_rows.append(slowest_row)
    wall = median(walls)
    over = wall - slowest
    print(
        f"median wall {wall:.3f} s = slowest call {slowest:.3f} s + {over:.3f} s "
        f"(ratio {wall / slowest:.2f}); cycle alone {median(cycles):.3f} s; "
        f"one model at a time would take >= {args.models * slowest:.1f} s"
    )
    if args.smoke:
        print("smoke run: latencies scaled down, not judged")
    else:
        print(f"target wall <= slowest + 1 s: {verdict(over <= 1.0)}")


if __name__ == "__main__":
    main()
