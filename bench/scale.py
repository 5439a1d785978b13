"""Target 2: 100 models x 20 providers = 2,000 calls of 200 ms each, MAX_CONCURRENCY=64.

The concurrency bound is 2000 / 64 x 0.2 s = 6.25 s; the target is a cycle under twice that
(12.5 s), peak memory under 300 MB, and a row with error_class=ok for every call. 15 of the 20
providers have a route in providers.toml, 5 go through the unified route. The fake router runs
in its own process. The listing is one page of 100 models, served by the fake. Calls are
streamed (the tracker's default): after the latency the fake streams the answer's 9 words at
once, with a usage chunk; --no-stream sends STREAM=false (one JSON answer, as before streaming).

Run: .venv/bin/python bench/scale.py [--runs 3] [--models 100] [--providers 20] [--no-stream]
         [--smoke]
     add --profile to run the tracker under pyinstrument or py-spy if installed (not a dep).
"""

from __future__ import annotations

import argparse
import shutil
import sys
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
    phases,
    provider_names,
    run,
    tracker_command,
    verdict,
    world,
)

MAX_RSS_MB = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--no-stream", action="store_true", help="STREAM=false: plain JSON answers, as before"
    )
    parser.add_argument("--smoke", action="store_true", help="one run of 5 x 4 calls")
    parser.add_argument("--profile", choices=("pyinstrument", "py-spy"), default=None)
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.models, args.providers = 1, 5, 4
    calls = args.models * args.providers
    bound = calls / args.concurrency * args.latency
    providers = provider_names(args.providers)
    spec = world(args.models, providers, {"kind": "ok", "latency": args.latency})
    print(f"# scale - {machine()}")
    print(
        f"{args.models} models x {args.providers} providers = {calls} calls of "
        f"{args.latency * 1000:g} ms, {'not streamed' if args.no_stream else 'streamed'}, "
        f"MAX_CONCURRENCY={args.concurrency}; "
        f"bound {bound:.2f} s, target < {2 * bound:.2f} s"
    )
    walls, cycles, rss = [], [], []
    split: list[dict[str, float]] = []
    with fake_router(spec) as router:
        for n in range(args.runs):
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
                if args.profile:
                    _profile(args.profile, env, cwd)
                    return
                done = collect(env, cwd)
                rows = buffer_rows(cwd)
                ok = sum(1 for row in rows if row["error_class"] == "ok")
                cycle_s = float(last_cycle(cwd)["duration_s"])
                print(
                    f"run {n + 1}: wall {done.wall_s:.2f} s, cycle {cycle_s:.2f} s, "
                    f"peak RSS {done.max_rss_mb:.1f} MB, CPU user {done.user_s:.2f} s "
                    f"sys {done.sys_s:.2f} s, rows {len(rows)}, ok {ok}"
                )
                if len(rows) != calls or ok != calls:
                    sys.exit(f"FAIL: expected {calls} rows, all ok")
                split.append(phases(done.stderr))
                print("       " + ", ".join(f"{k} {v:.2f} s" for k, v in split[-1].items()))
                walls.append(done.wall_s)
                cycles.append(cycle_s)
                rss.append(done.max_rss_mb)
    wall, peak = median(walls), max(rss)
    print(
        f"median wall {wall:.2f} s ({wall / bound:.2f}x the bound), median cycle "
        f"{median(cycles):.2f} s, peak RSS {peak:.1f} MB, every call measured"
    )
    if args.smoke:
        print("smoke run: not judged")
    else:
        print(
            f"target wall < {2 * bound:.2f} s: {verdict(wall < 2 * bound)}; "
            f"peak RSS < {MAX_RSS_MB:g} MB: {verdict(peak < MAX_RSS_MB)}"
        )


def _profile(tool: str, env: dict[str, str], cwd: Path) -> None:
    """One profiled cycle; the report goes to the working folder's parent's stdout."""
    tracker = tracker_command()
    if tool == "pyinstrument":
        argv = [sys.executable, "-m", "pyinstrument", "-m", "inference_tracker"]
    else:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        argv = [spy, "record", "-o", str(Path.cwd() / "scale-profile.svg"), "--threads", "--"]
        argv += tracker
    done = run([*argv, "collect", "--no-push"], env, cwd)
    print(done.stdout)
    print(done.stderr[-3000:] if done.code else f"exit {done.code}, wall {done.wall_s:.2f} s")


if __name__ == "__main__":
    main()
