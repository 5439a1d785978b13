from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from inference_tracker.config import ConfigError, load_settings
from inference_tracker.providers import default_mapping_path, load_provider_map

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
        ("LOG_LEVEL", "loud", "invalid setting LOG_LEVEL: must be debug, info, warn, warning or"),
        (
            "ROUTER_BASE_URL",
            "router.example",
            "invalid setting ROUTER_BASE_URL: must start with http",
        ),
        ("MAX_CONCURRENCY", "-3", "invalid setting MAX_CONCURRENCY"),
        ("EXPECTED_ANSWER", "many", "invalid setting EXPECTED_ANSWER: must be a number"),
        ("PROBE_ID", "a/b", "invalid setting PROBE_ID"),
        ("PROBE_ID", "probe\r1", "invalid setting PROBE_ID"),  # breaks the card's markers
        ("PROBE_ID", "probe\x071", "invalid setting PROBE_ID"),
        ("MAX_RESPONSE_BODY_BYTES", "1048577", "invalid setting MAX_RESPONSE_BODY_BYTES"),
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
        ("[routes]\ngroq = 3\n", "line 2: route for 'groq' must be a string starting with '/'"),
        (
            '# mine\n\n[routes]\ngroq = "groq/v1"\n',
            "line 4: route for 'groq' must be a string starting with '/'",
        ),
        (
            '[routes]\ngroq = "/groq/v1"\nnovita = "/novita/{provider}/v1"\n',
            "line 3: route for 'novita' may only use the {model} placeholder",
        ),
        (
            '[routes]\ngroq = "/groq/v1"\n\n[no_chat_route]\n"fal-ai" = 3\n',
            "line 5: reason for 'fal-ai' under [no_chat_route] must be a string",
        ),
        (
            '# fallback\nunmapped_providers = "maybe"\n',
            'line 2: unmapped_providers must be "unified" or "skip"',
        ),
        ("routes = 1\n", "line 1: routes must be a [routes] table"),
        (
            '[routes]\ngroq = "/g"\nno_chat_route = 2\n',
            "line 3: route for 'no_chat_route' must be a string starting with '/'",
        ),
        (
            '\nroutes = { groq = "groq/v1" }\n',
            "line 2: route for 'groq' must be a string starting with '/'",
        ),
        (
            'routes.groq = "/g"\nroutes.novita = 7\n',
            "line 2: route for 'novita' must be a string starting with '/'",
        ),
        (
            "[routes.groq]\nurl = '/g'\n",
            "line 1: route for 'groq' must be a string starting with '/'",
        ),
    ],
)
def test_invalid_mapping_contents_name_the_line(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_provider_map(path)
    assert str(caught.value) == f"PROVIDER_ENDPOINT_MAPPING_PATH {path} {expected}"


def _mapping_error(tmp_path: Path, content: str) -> str:
    path = tmp_path / "providers.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_provider_map(path)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"PROVIDER_ENDPOINT_MAPPING_PATH {path}")


def test_an_unknown_table_is_an_error(tmp_path: Path) -> None:
    content = '[routes]\ngroq = "/groq/v1"\n\n# more\n\n\n[route]\nnovita = "/n/v1"\n'
    assert _mapping_error(tmp_path, content) == (
        " line 7: unknown table [route] (known: [routes], [no_chat_route])"
    )


def test_an_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    content = '# top\nunmaped_providers = "skip"\n[routes]\ngroq = "/groq/v1"\n'
    assert _mapping_error(tmp_path, content) == (
        " line 2: unknown key unmaped_providers (known: unmapped_providers)"
    )


def test_an_unknown_dotted_table_names_its_header_line(tmp_path: Path) -> None:
    content = '[routes]\ngroq = "/groq/v1"\n[extra.sub]\nx = 1\n'
    assert _mapping_error(tmp_path, content) == (
        " line 3: unknown table [extra] (known: [routes], [no_chat_route])"
    )


@pytest.mark.parametrize("content", ["", "\n  \n", "# only comments\n\n# here\n"])
def test_an_empty_mapping_file_is_an_error(tmp_path: Path, content: str) -> None:
    assert _mapping_error(tmp_path, content) == " is empty: it needs a [routes] table"


def test_a_provider_under_both_tables_is_an_error(tmp_path: Path) -> None:
    content = (
        '[routes]\ngroq = "/groq/v1"\nnovita = "/n/v1"\n\n'
        '[no_chat_route]\nfal-ai = "images"\nnovita = "gone"\n'
    )
    assert _mapping_error(tmp_path, content) == (
        " line 7: provider 'novita' is under both [routes] (line 3) and [no_chat_route]"
    )


def test_the_line_is_the_one_in_the_right_table(tmp_path: Path) -> None:
    # 'groq' first appears under [no_chat_route]; the bad route is the one under [routes].
    content = '[no_chat_route]\ngroq = "gone"\n\n[routes]\ngroq = "groq/v1"\n'
    assert _mapping_error(tmp_path, content) == (
        " line 5: route for 'groq' must be a string starting with '/'"
    )


def test_a_valid_custom_mapping_with_every_part_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '# mine\nunmapped_providers = "skip"  # no fallback\n\n'
        '[routes]\n"acme" = "/acme/{model}/v1"\n\n[no_chat_route]\nfal-ai = "images"\n'
    )
    providers = load_provider_map(path)
    assert providers.routes == {"acme": "/acme/{model}/v1"}
    assert providers.no_chat_route == {"fal-ai": "images"}
    assert providers.unified_fallback is False


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


def test_defaults_of_the_newer_settings() -> None:
    settings = load_settings()
    assert settings.hf_dataset_private is False
    assert settings.stream is True
    assert settings.max_daily_spend_usd is None
    assert settings.prometheus_textfile is None
    assert settings.provider_down_after_cycles == 3
    assert settings.provider_up_after_cycles == 2
    assert settings.provider_degraded_success_ratio == pytest.approx(0.95)
    assert settings.provider_degraded_latency_factor == pytest.approx(2.0)


def test_newer_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HF_DATASET_PRIVATE": "true",
        "STREAM": "false",
        "MAX_DAILY_SPEND_USD": "2.5",
        "PROMETHEUS_TEXTFILE": "/var/lib/node_exporter/tracker.prom",
        "PROVIDER_DOWN_AFTER_CYCLES": "1",
        "PROVIDER_UP_AFTER_CYCLES": "5",
        "PROVIDER_DEGRADED_SUCCESS_RATIO": "1",
        "PROVIDER_DEGRADED_LATENCY_FACTOR": "1.5",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.hf_dataset_private is True
    assert settings.stream is False
    assert settings.max_daily_spend_usd == pytest.approx(2.5)
    assert settings.prometheus_textfile == Path("/var/lib/node_exporter/tracker.prom")
    assert settings.provider_down_after_cycles == 1
    assert settings.provider_up_after_cycles == 5
    assert settings.provider_degraded_success_ratio == 1
    assert settings.provider_degraded_latency_factor == pytest.approx(1.5)


def test_blank_optional_settings_in_the_env_file_are_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "MAX_DAILY_SPEND_USD=\nPROMETHEUS_TEXTFILE=\nCYCLE_DEADLINE_SECONDS=\n"
        "PROVIDER_ENDPOINT_MAPPING_PATH=\nSTATE_DIR=\n"
    )
    settings = load_settings()
    assert settings.max_daily_spend_usd is None
    assert settings.prometheus_textfile is None
    assert settings.deadline_seconds == pytest.approx(240)
    assert settings.provider_endpoint_mapping_path is None
    assert settings.state_folder == Path(".tracker")


@pytest.mark.parametrize("name", ["MAX_DAILY_SPEND_USD", "PROMETHEUS_TEXTFILE"])
def test_blank_optional_settings_in_the_environment_are_unset(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "  ")
    assert getattr(load_settings(), name.lower()) is None


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("HF_DATASET_PRIVATE", "maybe", "Input should be a valid boolean"),
        ("STREAM", "sometimes", "Input should be a valid boolean"),
        ("MAX_DAILY_SPEND_USD", "0", "Input should be greater than 0"),
        ("MAX_DAILY_SPEND_USD", "-5", "Input should be greater than 0"),
        ("MAX_DAILY_SPEND_USD", "ten", "Input should be a valid number"),
        ("MAX_DAILY_SPEND_USD", "inf", "Input should be a finite number"),
        ("MAX_DAILY_SPEND_USD", "nan", "Input should be a finite number"),
        ("PROVIDER_DOWN_AFTER_CYCLES", "0", "Input should be greater than or equal to 1"),
        ("PROVIDER_DOWN_AFTER_CYCLES", "2.5", "Input should be a valid integer"),
        ("PROVIDER_UP_AFTER_CYCLES", "0", "Input should be greater than or equal to 1"),
        ("PROVIDER_UP_AFTER_CYCLES", "x", "Input should be a valid integer"),
        ("PROVIDER_DEGRADED_SUCCESS_RATIO", "0", "Input should be greater than 0"),
        ("PROVIDER_DEGRADED_SUCCESS_RATIO", "1.01", "Input should be less than or equal to 1"),
        ("PROVIDER_DEGRADED_SUCCESS_RATIO", "95", "Input should be less than or equal to 1"),
        ("PROVIDER_DEGRADED_SUCCESS_RATIO", "nan", "Input should be a finite number"),
        ("PROVIDER_DEGRADED_LATENCY_FACTOR", "1", "Input should be greater than 1"),
        ("PROVIDER_DEGRADED_LATENCY_FACTOR", "0.5", "Input should be greater than 1"),
        ("PROVIDER_DEGRADED_LATENCY_FACTOR", "inf", "Input should be a finite number"),
    ],
)
def test_bad_newer_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}: {expected}")
    assert message.endswith(f" (got {value!r})")
    assert "\n" not in message


@pytest.mark.parametrize("value", ["/var/lib/node_exporter/tracker.txt", "tracker", "x.prom.bak"])
def test_the_prometheus_file_must_end_in_prom(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROMETHEUS_TEXTFILE", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid setting PROMETHEUS_TEXTFILE: must end in .prom (node_exporter's textfile "
        f"collector reads only *.prom files) (got {value!r})"
    )


@pytest.mark.parametrize("value", ["", "   ", "\t \t"])
def test_an_empty_prompt_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PROMPT", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == "invalid setting PROMPT: must not be empty"


@pytest.mark.parametrize(
    "value, problem",
    [
        ("/etc/x.csv", "must be a relative file path in the dataset"),
        ("data/../x.csv", "must be a relative file path in the dataset"),
        ("data/{nope}.csv", "unknown placeholder {nope}; use {date}, {probe_id}, {batch_id}"),
        ("data/{date!r}.csv", "unknown placeholder {date!r}; use {date}, {probe_id}, {batch_id}"),
        ("data/{date", "expected '}' before end of string"),
        ("metrics.txt", "must end in .csv"),
        ("data/{date}/{batch_id}", "must end in .csv"),
        ("README.md", "must end in .csv"),
    ],
)
def test_a_bad_target_filename_is_shown_once(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("HF_DATASET_TARGET_FILENAME", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"invalid setting HF_DATASET_TARGET_FILENAME: {problem} (got {value!r})"
    )


def test_an_unparsable_env_file_line_after_blank_lines_names_its_own_line(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("# settings\n\nMODELS_TO_FETCH=3\n\n\nthis is not a setting\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == ".env line 6: cannot parse (expected NAME=value)"
