"""Test hygiene: no real Hub, no user config, no stray .env, a temp working directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference_tracker.config import SETTING_NAMES as TRACKER_SETTINGS

# Before huggingface_hub can be imported anywhere (it reads these once, at import).
_HF_HOME = tempfile.mkdtemp(prefix="tracker-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)

# Every setting name the tracker reads, and the library's own token variable: a developer's
# own values must not leak into tests.
SETTING_NAMES = [*TRACKER_SETTINGS, "HUGGING_FACE_HUB_TOKEN"]
for _name in SETTING_NAMES:
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test runs in its own empty working directory with no tracker settings set."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROBE_ID", "test-probe")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
