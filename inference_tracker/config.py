"""Settings (environment and .env) and the provider route map (providers.toml).

Only the CLI builds these; everything below it receives them as plain values.
"""

from __future__ import annotations

import os
import re
import socket
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv.parser import Binding, parse_stream
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from inference_tracker.errors import ConfigError as ConfigError  # re-exported for callers
from inference_tracker.record import Scrubber

DEFAULT_MODELS_API_URL = (
    "https://huggingface.co/models-json?inference_provider=all"
    "&pipeline_tag=text-generation&sort=trending&withCount=true"
)
SECRET_NAMES = ("HF_TOKEN", "HF_HUB_TOKEN")
MIN_TOKEN_LENGTH = 8
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
TARGET_PLACEHOLDERS = ("date", "probe_id", "batch_id")
CARD_PATH = "README.md"  # the dataset card; no batch may land there


class Settings(BaseSettings):
    """Every setting of spec section 3. Field names are the env names, lower-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    hf_token: SecretStr | None = None
    hf_hub_token: SecretStr | None = None
    hf_dataset_repo_id: str = ""
    hf_dataset_target_filename: str = "data/{date}/{probe_id}-{batch_id}.csv"
    schedule_interval_seconds: float = Field(300, gt=0)
    models_to_fetch: int = Field(5, ge=1)
    max_tokens_default: int = Field(512, ge=1)
    provider_endpoint_mapping_path: Path | None = None
    local_csv_path: Path = Path("./metrics_buffer.csv")
    push_interval_cycles: int = Field(6, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    models_api_url: str = DEFAULT_MODELS_API_URL
    router_base_url: str = "https://router.huggingface.co"
    hf_endpoint: str = "https://huggingface.co"
    state_dir: Path | None = None
    request_timeout_seconds: float = Field(60, gt=0)
    cycle_deadline_seconds: float | None = Field(None, gt=0)
    max_concurrency: int = Field(32, ge=1, le=1024)
    max_retries: int = Field(2, ge=0, le=10)
    prompt: str = "Solve this: 123/2*3.2*9"
    expected_answer: str = "1771.2"
    probe_id: str = Field(default_factory=socket.gethostname, min_length=1)
    hf_bill_to: str = ""
    max_response_body_bytes: int = Field(65536, ge=256, le=1_048_576)  # a row stays loadable
    hf_dataset_private: bool = False
    stream: bool = True
    max_daily_spend_usd: float | None = Field(None, gt=0, allow_inf_nan=False)
    prometheus_textfile: Path | None = None
    provider_down_after_cycles: int = Field(3, ge=1)
    provider_up_after_cycles: int = Field(2, ge=1)
    provider_degraded_success_ratio: float = Field(0.95, gt=0, le=1, allow_inf_nan=False)
    provider_degraded_latency_factor: float = Field(2.0, gt=1, allow_inf_nan=False)

    @field_validator(
        "max_daily_spend_usd",
        "prometheus_textfile",
        "cycle_deadline_seconds",
        "provider_endpoint_mapping_path",
        "state_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return _blank_is_none(value)

    @field_validator("hf_token", "hf_hub_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        """Blank is unset; anything with spaces or shorter than a token is a mistake."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if any(c.isspace() for c in value):
            raise ValueError("a token has no spaces in it")
        if len(value) < MIN_TOKEN_LENGTH:
            raise ValueError("too short to be a token")
        return value

    @field_validator("hf_dataset_repo_id")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        value = value.strip()
        if value and not REPO_ID.fullmatch(value):
            raise ValueError("must be owner/name")
        return value

    @field_validator("hf_dataset_target_filename")
    @classmethod
    def _target(cls, value: str) -> str:
        check_target_filename(value)
        return value

    @field_validator("prometheus_textfile")
    @classmethod
    def _prom_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix != ".prom":
            raise ValueError(
                "must end in .prom (node_exporter's textfile collector reads only *.prom files)"
            )
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            value = "warning" if value == "warn" else value
            if value not in ("debug", "info", "warning", "error"):
                raise ValueError("must be debug, info, warn, warning or error")
        return value

    @field_validator("router_base_url", "hf_endpoint", "models_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if "?" not in value else value

    @field_validator("probe_id")
    @classmethod
    def _safe_probe_id(cls, value: str) -> str:
        # It names files, CSV rows and the card's section markers (leaderboard.markers).
        if any(c in '/\\,"<>' or c.isspace() or not c.isprintable() for c in value):
            raise ValueError(
                "must not contain slashes, spaces or control characters, commas, quotes, < or >"
            )
        return value

    @field_validator("expected_answer")
    @classmethod
    def _numeric_answer(cls, value: str) -> str:
        try:
            float(value.replace(",", ""))
        except ValueError:
            raise ValueError("must be a number") from None
        return value

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        if self.state_dir is None:
            self.state_dir = default_state_dir(self.local_csv_path)
        if self.cycle_deadline_seconds is None:
            self.cycle_deadline_seconds = 0.8 * self.schedule_interval_seconds
        elif self.cycle_deadline_seconds > self.schedule_interval_seconds:
            raise ValueError(
                "cycle_deadline_seconds: must not exceed SCHEDULE_INTERVAL_SECONDS "
                f"({self.schedule_interval_seconds:g} s), or cycles would pile up"
            )
        return self

    @property
    def state_folder(self) -> Path:
        """STATE_DIR, resolved (beside the buffer when not set)."""
        assert self.state_dir is not None  # set by _derived
        return self.state_dir

    @property
    def deadline_seconds(self) -> float:
        assert self.cycle_deadline_seconds is not None  # set by _derived
        return self.cycle_deadline_seconds

    def secrets(self) -> list[str]:
        """The secret values to scrub from every output."""
        return [s.get_secret_value() for s in (self.hf_token, self.hf_hub_token) if s is not None]


# The environment names the tracker reads (tests and benchmarks clear them all).
SETTING_NAMES = tuple(name.upper() for name in Settings.model_fields)


def load_settings() -> Settings:
    """Read the environment and ./.env; a bad value becomes a one-line ConfigError."""
    line = _unparsable_dotenv_line()
    if line is not None:  # python-dotenv would only log it and carry on
        raise ConfigError(f".env line {line}: cannot parse (expected NAME=value)")
    try:
        return Settings()
    except ValidationError as exc:
        # The tokens are unknown when loading failed: scrub with what env and .env hold for
        # them, in case one was pasted into another setting.
        raise ConfigError(Scrubber(_raw_secrets())(_explain(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read .env: {exc}") from None


class _Storage(BaseSettings):
    """The two settings that say where the files are, read as Settings reads them."""

    model_config = Settings.model_config

    local_csv_path: Path = Settings.model_fields["local_csv_path"].default
    state_dir: Path | None = None

    @field_validator("state_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return _blank_is_none(value)


def _blank_is_none(value: object) -> object:
    """`NAME=` in .env (or a blank variable) leaves an optional setting unset."""
    return None if isinstance(value, str) and not value.strip() else value


def storage_paths() -> tuple[Path, Path] | None:
    """The buffer and STATE_DIR as the settings would have them, when those two can be read
    though another setting cannot (to record that configuration error where status finds
    it); None when they cannot be read either."""
    try:
        if _unparsable_dotenv_line() is not None:
            return None  # python-dotenv would log the line it cannot parse, and guess
        storage = _Storage()
    except (ConfigError, ValidationError, OSError, UnicodeDecodeError):
        return None
    return storage.local_csv_path, storage.state_dir or default_state_dir(storage.local_csv_path)


def default_state_dir(local_csv_path: Path) -> Path:
    """STATE_DIR when it is not set: `.tracker` beside the buffer."""
    return local_csv_path.parent / ".tracker"


def _unparsable_dotenv_line() -> int | None:
    """The first line of ./.env that python-dotenv cannot parse, if any (ConfigError when the
    file cannot be read)."""
    dotenv = env_file_in_use()
    for line, binding in _dotenv_statements(dotenv) if dotenv else []:
        if binding.error:
            return line
    return None


def env_file_in_use() -> Path | None:
    """The absolute path of ./.env, the file load_settings reads, if there is one."""
    path = Path(".env").absolute()
    return path if path.is_file() else None


def _dotenv_statements(path: Path) -> list[tuple[int, Binding]]:
    """The statements of a .env file (comments left out), each with the line it starts on."""
    try:
        with path.open(encoding="utf-8") as stream:
            bindings = list(parse_stream(stream))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read .env: {exc}") from None
    statements = []
    for binding in bindings:
        # python-dotenv counts from the blank lines before a statement; skip past them.
        text = binding.original.string
        line = binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")
        if binding.key is not None or binding.error:
            statements.append((line, binding))
    return statements


# Variables that share the environment with the settings and are no typo of one: the
# huggingface_hub library's own (and any HF_XET_*), and the GitHub CLI's token (2 edits from
# HF_TOKEN).
FOREIGN_NAMES = frozenset(
    {
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_ASSETS_CACHE",
        "HF_HUB_OFFLINE",
        "HF_HUB_DISABLE_TELEMETRY",
        "HF_DEBUG",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_ENABLE_HF_TRANSFER",
        "HF_HUB_ETAG_TIMEOUT",
        "HF_HUB_DOWNLOAD_TIMEOUT",
        "HF_TOKEN_PATH",
        "HF_STORED_TOKENS_PATH",
        "HF_HUB_VERBOSITY",
        "HF_HUB_DISABLE_PROGRESS_BARS",
        "HF_HUB_DISABLE_SYMLINKS",
        "HF_HUB_DISABLE_SYMLINKS_WARNING",
        "HF_HUB_DISABLE_EXPERIMENTAL_WARNING",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN",
        "HF_HUB_DISABLE_SHARED_BLOBS",
        "HF_HUB_DISABLE_UPDATE_CHECK",
        "HF_HUB_DISABLE_XET",
        "HF_HUB_USER_AGENT_ORIGIN",
        "HF_INFERENCE_ENDPOINT",
        "HF_HUB_LOCAL_DIR_AUTO_SYMLINK_THRESHOLD",
        "HUGGINGFACE_HUB_CACHE",
        "HUGGINGFACE_ASSETS_CACHE",
        "HUGGINGFACE_CO_STAGING",
        "HF_DEVICE_CODE_OAUTH_CLIENT_ID",
        "GH_TOKEN",
    }
)
MAX_TYPO_EDITS = 2
MIN_TYPO_LENGTH = 5  # shorter names in the environment are not taken for typos


def unknown_setting_warnings(environ: Mapping[str, str], dotenv: Path | None) -> list[str]:
    """One line per name that looks like a misspelt setting; never a value.

    From the environment, which holds many unrelated variables, only names within
    MAX_TYPO_EDITS of a setting; from the .env file, every name that is not a setting.
    """
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if upper in SETTING_NAMES or upper in FOREIGN_NAMES or upper.startswith("HF_XET_"):
            continue
        closest = _closest_setting(upper) if len(name) >= MIN_TYPO_LENGTH else None
        if closest:
            warnings.append(f"{name} is not a setting; did you mean {closest}?")
    secrets = [value for name, value in environ.items() if name.upper() in SECRET_NAMES]
    statements = _dotenv_statements(dotenv) if dotenv else []
    for line, binding in statements:
        key = binding.key
        if key is None:
            continue  # an unparsable line: load_settings refuses it
        if key.upper() in SECRET_NAMES and binding.value:
            secrets.append(binding.value)
        if key.upper() not in SETTING_NAMES:
            closest = _closest_setting(key.upper())
            hint = f"; did you mean {closest}?" if closest else " of inference-tracker"
            warnings.append(f".env line {line}: {key} is not a setting{hint}")
    # A token pasted alone on a line of .env is a name to the parser.
    scrub = Scrubber(secret.strip() for secret in secrets)
    return [scrub(warning) for warning in warnings]


def _closest_setting(name: str) -> str | None:
    """The setting name closest to name if it is within MAX_TYPO_EDITS, else None."""
    close = sorted(
        (_edit_distance(name, setting), setting)
        for setting in SETTING_NAMES
        if abs(len(setting) - len(name)) <= MAX_TYPO_EDITS  # else more edits apart than that
    )
    return close[0][1] if close and close[0][0] <= MAX_TYPO_EDITS else None


def _edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours is 1."""
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(
                d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def _raw_secrets() -> list[str]:
    from dotenv import dotenv_values

    try:
        from_file = dotenv_values(".env")
    except (OSError, UnicodeDecodeError):
        from_file = {}
    found = []
    for name in SECRET_NAMES:
        for value in (os.environ.get(name), from_file.get(name)):
            if value and value.strip():
                found.append(value.strip())
    return found


def _explain(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"] and ": " in message:  # a check across settings names its setting
        field_name, message = message.split(": ", 1)
        name = field_name.upper()
    if name in SECRET_NAMES:
        return f"invalid setting {name}: {message}"
    raw = _raw_input(exc)  # the only place a message shows the value
    shown = f" (got {raw!r})" if raw and raw.strip() and len(raw) <= 80 else ""
    more = len(exc.errors())
    tail = f"; and {more - 1} more" if more > 1 else ""
    return f"invalid setting {name}: {message}{shown}{tail}"


def _raw_input(exc: ValidationError) -> str | None:
    value = exc.errors(include_url=False)[0].get("input")
    return value if isinstance(value, str) else None


def check_target_filename(template: str) -> None:
    """Placeholders {date}, {probe_id}, {batch_id} only; a relative file path in the dataset."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TARGET_PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"unknown placeholder {shown}; use {{date}}, {{probe_id}}, {{batch_id}}"
            )
    sample = template.format(date="2026-01-01", probe_id="probe", batch_id="batch")
    if sample.startswith("/") or any(s in ("", ".", "..") for s in sample.split("/")):
        raise ValueError("must be a relative file path in the dataset")
    if not sample.endswith(".csv"):  # also keeps batches off the dataset card, README.md
        raise ValueError("must end in .csv")
