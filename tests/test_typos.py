"""A misspelt setting is reported, not silently ignored (environment and .env)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_tracker.config import (
    SETTING_NAMES,
    ConfigError,
    env_file_in_use,
    unknown_setting_warnings,
)

TOKEN = "hf_" + "Typo" * 9

# What a shell, a CI runner and a Python toolchain typically export.
UNRELATED = {
    "PATH": "/usr/bin",
    "HOME": "/home/me",
    "SHELL": "/bin/bash",
    "TERM": "xterm",
    "LANG": "C.UTF-8",
    "USER": "me",
    "PWD": "/work",
    "OLDPWD": "/",
    "HOSTNAME": "probe-1",
    "LOGNAME": "me",
    "EDITOR": "vi",
    "TMPDIR": "/tmp",
    "VIRTUAL_ENV": "/work/.venv",
    "SSH_AUTH_SOCK": "/tmp/ssh",
    "PROMPT_COMMAND": "history -a",
    "XDG_STATE_HOME": "/home/me/.local/state",
    "DATABASE_URL": "postgres://x",
    "PYTHONPATH": ".",
    "GITHUB_TOKEN": "ghp_x",
    "GH_TOKEN": "gho_x",
}

HF_LIBRARY = [
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_DEBUG",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_ENABLE_HF_TRANSFER",
    "HF_XET_HIGH_PERFORMANCE",
    "HF_XET_CACHE",
    "HF_XET_SOMETHING_NEW",
    "HF_HUB_ETAG_TIMEOUT",
    "HF_HUB_DOWNLOAD_TIMEOUT",
    "HF_TOKEN_PATH",
    "HF_HUB_VERBOSITY",
    "HF_ASSETS_CACHE",
    "HF_INFERENCE_ENDPOINT",
]


def test_a_misspelt_name_in_the_environment_is_reported_with_the_right_name() -> None:
    warnings = unknown_setting_warnings({"HF_DATSET_REPO_ID": "me/metrics"}, None)
    assert warnings == ["HF_DATSET_REPO_ID is not a setting; did you mean HF_DATASET_REPO_ID?"]


@pytest.mark.parametrize(
    "typo, meant",
    [
        ("MODEL_TO_FETCH", "MODELS_TO_FETCH"),
        ("MAX_RETIRES", "MAX_RETRIES"),  # one transposition
        ("MAX_ERTIRES", "MAX_RETRIES"),  # two transpositions (plain Levenshtein says 4)
        ("HF_HUB_TOKN", "HF_HUB_TOKEN"),
        ("hf_tokne", "HF_TOKEN"),
        ("PROMT", "PROMPT"),
        ("STREEM", "STREAM"),
        ("PROVIDER_DOWN_AFTER_CYCLE", "PROVIDER_DOWN_AFTER_CYCLES"),
    ],
)
def test_names_within_two_edits_are_reported(typo: str, meant: str) -> None:
    assert unknown_setting_warnings({typo: "1"}, None) == [
        f"{typo} is not a setting; did you mean {meant}?"
    ]


def test_the_real_names_in_any_case_are_not_reported() -> None:
    environ = {name: "1" for name in SETTING_NAMES}
    environ |= {"hf_token": TOKEN, "Models_To_Fetch": "3", "stream": "false"}
    assert unknown_setting_warnings(environ, None) == []


def test_unrelated_variables_are_not_reported() -> None:
    assert unknown_setting_warnings(UNRELATED, None) == []


@pytest.mark.parametrize("name", HF_LIBRARY)
def test_the_hub_librarys_own_variables_are_not_reported(name: str) -> None:
    assert unknown_setting_warnings({name: "1"}, None) == []


def test_short_names_in_the_environment_are_not_reported() -> None:
    assert unknown_setting_warnings({"STEM": "1", "PROM": "1"}, None) == []  # STREAM, PROMPT


def test_the_environment_is_reported_in_name_order() -> None:
    environ = {"PROMT": "x", "HF_DATSET_REPO_ID": "y", **UNRELATED}
    assert unknown_setting_warnings(environ, None) == [
        "HF_DATSET_REPO_ID is not a setting; did you mean HF_DATASET_REPO_ID?",
        "PROMT is not a setting; did you mean PROMPT?",
    ]


def test_every_unknown_name_in_the_env_file_is_reported_with_its_line(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# tracker settings\n"
        "HF_DATASET_REPO_ID=me/metrics\n"
        "MODEL_TO_FETCH=3\n"
        "FOO=bar\n"
        "\n"
        "export HF_HOME=/srv/hf\n"
        "  models_to_fetch = 4  # lower case is fine\n"
        "PROMPT='two\n"
        "lines'\n"
        "\n"
        "\n"
        "STATEDIR=/srv/state\n"
    )
    assert unknown_setting_warnings({}, dotenv) == [
        ".env line 3: MODEL_TO_FETCH is not a setting; did you mean MODELS_TO_FETCH?",
        ".env line 4: FOO is not a setting of inference-tracker",
        ".env line 6: HF_HOME is not a setting of inference-tracker",
        ".env line 12: STATEDIR is not a setting; did you mean STATE_DIR?",
    ]


def test_environment_first_then_the_env_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("FOO=1\n")
    assert unknown_setting_warnings({"LOG_LEVLE": "debug"}, dotenv) == [
        "LOG_LEVLE is not a setting; did you mean LOG_LEVEL?",
        ".env line 1: FOO is not a setting of inference-tracker",
    ]


def test_an_env_file_with_only_settings_gives_no_warning(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# mine\n\nHF_TOKEN=" + TOKEN + "\nexport STREAM=false\n")
    assert unknown_setting_warnings({}, dotenv) == []


def test_a_warning_never_shows_a_value(tmp_path: Path) -> None:
    secret = "SECRETtypoTOKENzz123456"  # not hf_-shaped: only its value can catch it
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"HF_TOKEN={secret}\nHF_TOKNE={secret}\n{secret}\n{TOKEN}\n")
    warnings = unknown_setting_warnings({"HF_HUB_TOKNE": TOKEN, "HF_TOKEN": secret}, dotenv)
    assert len(warnings) == 4
    assert warnings[0] == "HF_HUB_TOKNE is not a setting; did you mean HF_HUB_TOKEN?"
    assert warnings[1] == ".env line 2: HF_TOKNE is not a setting; did you mean HF_TOKEN?"
    for warning in warnings:
        assert secret not in warning and TOKEN not in warning
    # A token pasted alone on a line is a bare name to the parser: it is reported, masked.
    assert warnings[2].startswith(".env line 3: [REDACTED] is not a setting")
    assert warnings[3].startswith(".env line 4: [REDACTED] is not a setting")


def test_an_unreadable_env_file_is_a_config_error(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"FOO=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^cannot read \.env: "):
        unknown_setting_warnings({}, dotenv)


def test_env_file_in_use_is_the_one_in_the_working_folder(tmp_path: Path) -> None:
    assert env_file_in_use() is None
    (tmp_path / ".env").write_text("STREAM=false\n")
    found = env_file_in_use()
    assert found == tmp_path / ".env"
    assert found is not None and found.is_absolute()
