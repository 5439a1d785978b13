from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from inference_tracker.config import (
    ConfigError,
    default_mapping_path,
    load_provider_map,
    load_settings,
)

# Every route researched in hf-api.md section 2 (the path after ROUTER_BASE_URL).
RESEARCHED_ROUTES = {
    "baseten": "/baseten/v1/chat/completions",
    "cerebras": "/cerebras/v1/chat/completions",
    "cohere": "/cohere/compatibility/v1/chat/completions",
    "deepinfra": "/deepinfra/v1/openai/chat/completions",
    "featherless-ai": "/featherless-ai/v1/chat/completions",
    "fireworks-ai": "/fireworks-ai/inference/v1/chat/completions",
    "groq": "/groq/openai/v1/chat/completions",
    "hf-inference": "/hf-inference/models/{model}/v1/chat/completions",
    "novita": "/novita/v3/openai/chat/completions",
    "nscale": "/nscale/v1/chat/completions",
    "ovhcloud": "/ovhcloud/v1/chat/completions",
    "publicai": "/publicai/v1/chat/completions",
    "scaleway": "/scaleway/v1/chat/completions",
    "together": "/together/v1/chat/completions",
    "zai-org": "/zai-org/api/paas/v4/chat/completions",
}
NO_CHAT = {
    "fal-ai",
    "replicate",
    "wavespeed",
    "sambanova",
    "nebius",
    "hyperbolic",
    "nvidia",
    "clarifai",
}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.models_to_fetch == 5
    assert settings.push_interval_cycles == 6
    assert settings.schedule_interval_seconds == 300
    assert settings.deadline_seconds == pytest.approx(240)
    assert settings.local_csv_path == Path("metrics_buffer.csv")
    assert settings.state_folder == Path(".tracker")
    assert settings.hf_dataset_target_filename == "data/{date}/{probe_id}-{batch_id}.csv"
    assert settings.request_timeout_seconds == 60
    assert settings.max_concurrency == 32
    assert settings.max_retries == 2
    assert settings.expected_answer == "1771.2"
    assert settings.max_response_body_bytes == 65536
    assert settings.hf_token is None and settings.hf_hub_token is None


def test_probe_id_defaults_to_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.delenv("PROBE_ID")
    assert load_settings().probe_id == socket.gethostname()


def test_state_dir_sits_beside_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_CSV_PATH", "/var/lib/tracker/buf.csv")
    assert load_settings().state_folder == Path("/var/lib/tracker/.tracker")


def test_deadline_follows_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULE_INTERVAL_SECONDS", "60")
    assert load_settings().deadline_seconds == pytest.approx(48)


def test_env_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "MODELS_TO_FETCH=7\nPUSH_INTERVAL_CYCLES=3\nHF_TOKEN=hf_from_file\n"
    )
    monkeypatch.setenv("PUSH_INTERVAL_CYCLES", "4")
    settings = load_settings()
    assert settings.models_to_fetch == 7
    assert settings.push_interval_cycles == 4
    assert settings.hf_token is not None
    assert settings.hf_token.get_secret_value() == "hf_from_file"
    assert "hf_from_file" not in repr(settings)


@pytest.mark.parametrize(
    "level, expected", [("warn", "warning"), ("DEBUG", "debug"), ("error", "error")]
)
def test_log_level_spellings(monkeypatch: pytest.MonkeyPatch, level: str, expected: str) -> None:
    monkeypatch.setenv("LOG_LEVEL", level)
    assert load_settings().log_level == expected


@pytest.mark.parametrize(
    "name, value, expected",
    [
        (
            "MODELS_TO_FETCH",
            "abc",
            "invalid setting MODELS_TO_FETCH: Input should be a valid integer",
        ),
        (
            "PUSH_INTERVAL_CYCLES",
            "0",
            "invalid setting PUSH_INTERVAL_CYCLES: Input should be greater than or equal to 1",
        ),
        ("LOG_LEVEL", "loud", "invalid setting LOG_LEVEL"),
        (
            "ROUTER_BASE_URL",
            "router.example",
            "invalid setting ROUTER_BASE_URL: must start with http",
        ),
        ("MAX_CONCURRENCY", "-3", "invalid setting MAX_CONCURRENCY"),
        ("EXPECTED_ANSWER", "many", "invalid setting EXPECTED_ANSWER: must be a number"),
        ("PROBE_ID", "a/b", "invalid setting PROBE_ID"),
        ("REQUEST_TIMEOUT_SECONDS", "0", "invalid setting REQUEST_TIMEOUT_SECONDS"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_mapping_file_ships_every_researched_route() -> None:
    providers = load_provider_map(None)
    assert providers.routes == RESEARCHED_ROUTES
    assert set(providers.no_chat_route) == NO_CHAT
    assert providers.unified_fallback is True


def test_shipped_mapping_is_the_repo_root_file() -> None:
    root = Path(__file__).resolve().parents[1] / "providers.toml"
    assert default_mapping_path().read_bytes() == root.read_bytes()


def test_mapping_file_documents_how_to_add_a_provider() -> None:
    text = default_mapping_path().read_text()
    assert "To add a provider" in text
    tomllib.loads(text)


def test_custom_mapping_replaces_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('unmapped_providers = "skip"\n[routes]\nacme = "/acme/v1/chat/completions"\n')
    providers = load_provider_map(path)
    assert providers.routes == {"acme": "/acme/v1/chat/completions"}
    assert providers.unified_fallback is False


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[routes]\ngroq = "/groq/v1"\nnovita = \n')
    with pytest.raises(ConfigError) as caught:
        load_provider_map(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 3" in message
    assert message.startswith("PROVIDER_ENDPOINT_MAPPING_PATH")


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_provider_map(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "content, expected",
    [
        ("[routes]\ngroq = 3\n", "must be a string starting with '/'"),
        ('[routes]\ngroq = "groq/v1"\n', "must be a string starting with '/'"),
        ('[routes]\ngroq = "/groq/{provider}/v1"\n', "only use the {model} placeholder"),
        ('unmapped_providers = "maybe"\n', 'must be "unified" or "skip"'),
        ("routes = 1\n", "must be tables"),
    ],
)
def test_invalid_mapping_contents(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match="PROVIDER_ENDPOINT_MAPPING_PATH") as caught:
        load_provider_map(path)
    assert expected in str(caught.value)


def test_a_blank_token_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "  ")
    monkeypatch.setenv("HF_HUB_TOKEN", "")
    settings = load_settings()
    assert settings.hf_token is None and settings.hf_hub_token is None


@pytest.mark.parametrize("name", ["HF_TOKEN", "HF_HUB_TOKEN"])
@pytest.mark.parametrize("value", ["1", "abc", "hf_12 34567890", "hf_x\tyz12345"])
def test_a_token_that_cannot_be_one_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}: ")
    assert value not in message


def test_dataset_settings_are_checked_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASET_REPO_ID", "notarepo")
    with pytest.raises(
        ConfigError, match=r"^invalid setting HF_DATASET_REPO_ID: must be owner/name"
    ):
        load_settings()
    monkeypatch.setenv("HF_DATASET_REPO_ID", "me/metrics")
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", "data/{oops}.csv")
    with pytest.raises(
        ConfigError,
        match=r"^invalid setting HF_DATASET_TARGET_FILENAME: unknown placeholder \{oops\}",
    ):
        load_settings()


def test_the_deadline_cannot_outlast_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYCLE_DEADLINE_SECONDS", "3600")
    with pytest.raises(
        ConfigError,
        match=r"^invalid setting CYCLE_DEADLINE_SECONDS: .*SCHEDULE_INTERVAL_SECONDS \(300",
    ):
        load_settings()


def test_an_unparsable_env_file_line_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MODELS_TO_FETCH=3\nthis is not a setting\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ".env line 2: cannot parse (expected NAME=value)"


@pytest.mark.parametrize("where", ["env", "dotenv"])
def test_a_token_pasted_into_another_setting_is_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    secret = "SECRETinferTOKENzz123456"  # not hf_-shaped: only its value can catch it
    if where == "env":
        monkeypatch.setenv("HF_TOKEN", secret)
    else:
        (tmp_path / ".env").write_text(f"HF_TOKEN={secret}\n")
    monkeypatch.setenv("MODELS_TO_FETCH", secret)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert secret not in str(caught.value)
    assert str(caught.value).startswith("invalid setting MODELS_TO_FETCH")


def test_the_bad_value_is_shown_once() -> None:
    import os

    os.environ["HF_DATASET_REPO_ID"] = "notarepo"
    try:
        with pytest.raises(ConfigError) as caught:
            load_settings()
    finally:
        del os.environ["HF_DATASET_REPO_ID"]
    assert str(caught.value).count("notarepo") == 1
