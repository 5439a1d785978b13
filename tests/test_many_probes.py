"""Many probes, one dataset (issue 15, part 5): probes on different machines (a PROBE_ID,
a folder and a crontab each) push to the same dataset at the same time; every row of every
probe lands exactly once, and each probe's leaderboard section in the card survives the others'
pushes (card commits name their parent and are retried on a conflict)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inference_tracker.store import Store
from tests.fakes.hub import FakeHub
from tests.hub_helpers import HUB_TOKEN, REPO, assert_each_once, dataset_rows
from tests.rows import make_row, summary_of

pytestmark = pytest.mark.slow
PROBES = ("probe-eu", "probe-us", "probe-ap")


def test_three_probes_pushing_at_once_land_every_row_once_and_keep_their_sections(
    tmp_path: Path,
) -> None:
    expected = []
    with FakeHub(tokens={HUB_TOKEN: "write"}) as hub:
        hub.create_repo(REPO)
        for round_ in range(3):
            for number, probe in enumerate(PROBES):
                folder = tmp_path / probe
                store = Store(folder / "metrics_buffer.csv", folder / ".tracker")
                rows = [
                    make_row(round_, f"org/m{m}", provider, probe_id=probe)
                    for m in range(2)
                    for provider in ("groq", "together", f"only-{number}")
                ]
                store.append_cycle(rows, summary_of(rows))
                expected += rows
            pushes = [
                subprocess.Popen(
                    [sys.executable, "-m", "inference_tracker", "push"],
                    cwd=tmp_path / probe,
                    env={
                        **os.environ,
                        "PROBE_ID": probe,
                        "HF_HUB_TOKEN": HUB_TOKEN,
                        "HF_DATASET_REPO_ID": REPO,
                        "HF_ENDPOINT": hub.url,
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for probe in PROBES
            ]
            for push in pushes:
                _, err = push.communicate(timeout=120)
                assert push.returncode == 0, err
        assert_each_once(dataset_rows(hub), expected)
        card = (hub.file(REPO, "README.md") or b"").decode()
    for probe in PROBES:
        start = f"<!-- inference-tracker:leaderboard:{probe}:start -->"
        end = f"<!-- inference-tracker:leaderboard:{probe}:end -->"
        assert card.count(start) == 1 and card.count(end) == 1, probe
        section = card[card.index(start) : card.index(end)]
        assert f"only-{PROBES.index(probe)}" in section  # its own providers, not another's
        others = {f"only-{n}" for n in range(3)} - {f"only-{PROBES.index(probe)}"}
        assert not any(other in section for other in others)
    assert card.count("\ndataset_info:\n") == 1  # one YAML header, merged, never duplicated
