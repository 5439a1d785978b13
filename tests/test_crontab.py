"""The crontab.example line works the way cron runs it: /bin/sh, minimal PATH, no login env."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakes.router import FakeRouter, World, listing

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + "c" * 34


def cron_line() -> str:
    lines = [
        line
        for line in (REPO / "crontab.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    [line] = lines
    assert line.startswith("*/5 * * * * ")  # every 5 minutes
    return line.removeprefix("*/5 * * * * ")


def test_cron_line_runs_under_a_stripped_environment(tmp_path: Path) -> None:
    install = tmp_path / "install"
    install.mkdir()
    (install / ".venv").symlink_to(Path(sys.prefix))
    command = cron_line().replace("/opt/inference-tracker", str(install))
    with FakeRouter(World(listing=listing({"org/m": ["groq", "together"]}))) as router:
        (install / ".env").write_text(
            f"HF_TOKEN={TOKEN}\nMODELS_API_URL={router.listing_url}\n"
            f"ROUTER_BASE_URL={router.url}\nPUSH_INTERVAL_CYCLES=1000\n"
        )
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "SHELL": "/bin/sh",
            "LOGNAME": "cron",
        }
        proc = subprocess.run(["/bin/sh", "-c", command], env=env, cwd="/", timeout=60, check=False)
    assert proc.returncode == 0
    log = (install / "tracker.log").read_text()
    events = [json.loads(line)["event"] for line in log.splitlines()]
    assert "cycle_finished" in events
    assert TOKEN not in log
    rows = (install / "metrics_buffer.csv").read_text().count("org/m")
    assert rows >= 2
