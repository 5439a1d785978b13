"""What the benchmarks share: a fake router in its own process, a tracker run, its rows.

The fake router is tests/fakes/router.py, started by bench/timed_router.py in a separate
process (so it does not share the GIL with the tracker it serves) with two additions for
measuring: a listen backlog that takes 64 connects at once, and a record of when each request
arrived and when its answer was written (GET /_bench/timings).

Nothing here touches the internet: the listing, the router and the Hub are all on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference_tracker.config import SETTING_NAMES

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
FAKE_TOKEN = "hf_" + "b" * 34  # shaped like a token, valid nowhere

# Provider names with a route in providers.toml, then names the tracker sends through the
# unified route (the fake router understands both).
MAPPED_PROVIDERS = (
    "baseten",
    "cerebras",
    "cohere",
    "deepinfra",
    "featherless-ai",
    "fireworks-ai",
    "groq",
    "hf-inference",
    "novita",
    "nscale",
    "ovhcloud",
    "publicai",
    "scaleway",
    "together",
    "zai-org",
)


def provider_names(count: int) -> list[str]:
    """`count` provider names: the mapped ones first, then unmapped `extra-N` ones."""
    names = list(MAPPED_PROVIDERS[:count])
    names += [f"extra-{n}" for n in range(1, count - len(names) + 1)]
    return names


def world(models: int, providers: Sequence[str], default: dict[str, Any]) -> dict[str, Any]:
    """A fake-router world: `models` models, each on every provider, all in one listing page."""
    ids = [f"bench-org/model-{n:03d}" for n in range(models)]
    listing = {
        "models": [
            {
                "id": model_id,
                "availableInferenceProviders": [
                    {
                        "provider": provider,
                        "providerStatus": "live",
                        "modelStatus": "live",
                        "providerId": f"{provider}/{model_id.split('/')[-1]}",
                        "task": "conversational",
                    }
                    for provider in providers
                ],
            }
            for model_id in ids
        ],
        "numItemsPerPage": models,
        "numTotalItems": models,
        "pageIndex": 0,
    }
    return {"listing": listing, "default": default, "behaviours": {}}


# --- the fake router ---------------------------------------------------------------------------


@dataclass
class Router:
    url: str
    process: subprocess.Popen[str]

    @property
    def listing_url(self) -> str:
        return f"{self.url}/models-json?inference_provider=all&pipeline_tag=text-generation"

    def timings(self) -> list[dict[str, Any]]:
        """Per request: provider, model, arrived and answered (wall clock, seconds)."""
        with urllib.request.urlopen(f"{self.url}/_bench/timings", timeout=10) as answer:  # noqa: S310
            data: list[dict[str, Any]] = json.load(answer)
            return data

    def stats(self) -> dict[str, int]:
        """Connections accepted so far, and how many of them the client reset."""
        with urllib.request.urlopen(f"{self.url}/_bench/stats", timeout=10) as answer:  # noqa: S310
            data: dict[str, int] = json.load(answer)
            return data


@contextlib.contextmanager
def fake_router(spec: dict[str, Any]) -> Iterator[Router]:
    """Start bench/timed_router.py with `spec` in its own process; stop it on exit."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(spec, out)
    process = subprocess.Popen(
        [sys.executable, str(BENCH / "timed_router.py"), "--world", out.name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"fake router did not start (exit {process.poll()})")
        yield Router(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(out.name)


# --- running the tracker -----------------------------------------------------------------------


def tracker_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("tracker")
    return [str(script)] if script.exists() else [sys.executable, "-m", "inference_tracker"]


def clean_env(**settings: object) -> dict[str, str]:
    """The current environment without tracker or Hub settings, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGING"))
        and key not in SETTING_NAMES
        and key != "PYTHONDONTWRITEBYTECODE"  # cache bytecode, as an installed tool does
    }
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env.update({key: str(value) for key, value in settings.items()})
    return env


def collect_env(router: Router, folder: Path, **settings: object) -> dict[str, str]:
    """Settings for a `tracker collect` against `router`, writing under `folder`."""
    return clean_env(
        HF_TOKEN=FAKE_TOKEN,
        MODELS_API_URL=router.listing_url,
        ROUTER_BASE_URL=router.url,
        LOCAL_CSV_PATH=folder / "metrics_buffer.csv",
        PROBE_ID="bench",
        **settings,
    )


@dataclass
class Run:
    argv: list[str]
    code: int
    wall_s: float  # process start to exit, as the caller saw it
    user_s: float
    sys_s: float
    max_rss_mb: float  # peak resident memory of the process
    stdout: str
    stderr: str


def run(argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> Run:
    """Run one process; time it and read its own peak memory (wait4, not the router's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err)
        limit = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > limit:
                process.kill()
                raise RuntimeError(f"{' '.join(argv)} ran over {timeout} s")
            time.sleep(0.002)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            argv=list(argv),
            code=process.returncode,
            wall_s=wall,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def collect(env: dict[str, str], cwd: Path, *extra: str, timeout: float = 600) -> Run:
    done = run([*tracker_command(), "collect", "--no-push", *extra], env, cwd, timeout)
    if done.code != 0:
        raise RuntimeError(f"tracker collect exited {done.code}:\n{done.stderr[-2000:]}")
    return done


def phases(stderr: str) -> dict[str, float]:
    """Seconds spent in each phase of a cycle, from its JSON log lines."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or "event" not in event:
            continue
        at = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
        first.setdefault(event["event"], at)
        last[event["event"]] = at
    calls_end = max(last.get("call_succeeded", 0.0), last.get("call_failed", 0.0))
    return {
        "listing": first["models_fetched"] - first["cycle_started"],
        "plan": first["calls_started"] - first["models_fetched"],
        "calls": calls_end - first["calls_started"],
        "rows+store": first["cycle_finished"] - calls_end,
    }


def buffer_rows(folder: Path) -> list[dict[str, str]]:
    data = (folder / "metrics_buffer.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(data, newline="")))


def last_cycle(folder: Path) -> dict[str, Any]:
    state = json.loads((folder / ".tracker" / "state.json").read_text())
    summary: dict[str, Any] = state["last_cycle"]
    return summary


# --- rows as a tracker stores them ------------------------------------------------------------

SAMPLE_PROVIDERS = ("groq", "together", "novita", "nscale", "cerebras", "fireworks-ai")


def sample_cycle(start: datetime, n: int, models: int = 5) -> list[dict[str, str]]:
    """The rows of one cycle: `models` models x 6 providers, one in seven an HTTP 503, the
    others streamed answers with a TTFT and a token span (as the tracker's default leaves them)."""
    sys.path.insert(0, str(REPO))  # for tests.fakes
    from inference_tracker.record import Call, Outcome, Scrubber, build_row
    from tests.fakes.router import completion

    scrub = Scrubber([FAKE_TOKEN])
    rows = []
    for m in range(models):
        for i, provider in enumerate(SAMPLE_PROVIDERS):
            model_id = f"{provider}/model-{m}"
            call = Call(
                model_id=f"org/model-{m}",
                provider_name=provider,
                provider_model_id=model_id,
                url=f"https://router.huggingface.co/{provider}/v1/chat/completions",
                body=json.dumps({"model": model_id, "max_tokens": 512}),
                headers={"Content-Type": "application/json"},
            )
            ok = (n + i) % 7 != 0
            outcome = Outcome(
                error_class="ok" if ok else "http_error",
                status=200 if ok else 503,
                body=completion(model=model_id) if ok else b'{"error":"busy"}',
                headers={"Content-Type": "application/json", "X-Request-Id": f"r{n}-{m}-{i}"},
                error_message="" if ok else "HTTP 503: busy",
                attempts=1,
                started=start,
                duration_ms=150.0 + 40 * i + n % 13,
                streamed=ok,
                ttft_ms=60.0 + 25 * i + n % 17 if ok else None,
                token_span_ms=80.0 + 30 * i + n % 11 if ok else None,
                token_chunks=42 if ok else 0,
            )
            rows.append(
                build_row(
                    start, call, outcome, expected_answer="1771.2", probe_id="bench", scrub=scrub
                )
            )
    return rows


# --- reporting ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpus = os.cpu_count()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.system()} {platform.machine()}, "
        f"{cpus} CPUs, Python {platform.python_version()}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
