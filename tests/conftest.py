"""Test hygiene: no real Hub, no user config, no stray .env, a temp working directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before huggingface_hub can be imported anywhere (it reads these once, at import).
_HF_HOME = tempfile.mkdtemp(prefix="tracker-hf-home-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)

# Every setting name the tracker reads; a developer's own values must not leak into tests.
SETTING_NAMES = [
    "HF_TOKEN",
    "HF_HUB_TOKEN",
    "HF_DATASET_REPO_ID",
    "HF_DATASET_TARGET_FILENAME",
    "SCHEDULE_INTERVAL_SECONDS",
    "MODELS_TO_FETCH",
    "MAX_TOKENS_DEFAULT",
    "PROVIDER_ENDPOINT_MAPPING_PATH",
    "LOCAL_CSV_PATH",
    "PUSH_INTERVAL_CYCLES",
    "LOG_LEVEL",
    "MODELS_API_URL",
    "ROUTER_BASE_URL",
    "HF_ENDPOINT",
    "STATE_DIR",
    "REQUEST_TIMEOUT_SECONDS",
    "CYCLE_DEADLINE_SECONDS",
    "MAX_CONCURRENCY",
    "MAX_RETRIES",
    "PROMPT",
    "EXPECTED_ANSWER",
    "PROBE_ID",
    "HF_BILL_TO",
    "MAX_RESPONSE_BODY_BYTES",
    "HUGGING_FACE_HUB_TOKEN",
]
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
