"""Settings (environment and .env) and the provider route map (providers.toml).

Only the CLI builds these; everything below it receives them as plain values.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import string
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

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
    max_response_body_bytes: int = Field(65536, ge=256)

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

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_level(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
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
        if any(c in value for c in '/\\ \t\n,"'):
            raise ValueError("must not contain slashes, spaces, commas or quotes")
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
            self.state_dir = self.local_csv_path.parent / ".tracker"
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
    unparsable = _DotenvComplaints()
    dotenv_log = logging.getLogger("dotenv.main")
    dotenv_log.addHandler(unparsable)
    try:
        settings = Settings()
    except ValidationError as exc:
        # The tokens are unknown when loading failed: scrub with what env and .env hold for
        # them, in case one was pasted into another setting.
        raise ConfigError(Scrubber(_raw_secrets())(_explain(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read .env: {exc}") from None
    finally:
        dotenv_log.removeHandler(unparsable)
    if unparsable.lines:
        raise ConfigError(f".env line {unparsable.lines[0]}: cannot parse (expected NAME=value)")
    return settings


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


class _DotenvComplaints(logging.Handler):
    """python-dotenv logs unparsable .env lines and carries on; we make them an error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.lines.append(str(args[0]) if args else "?")


def _explain(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"] and ": " in message:  # a check across settings names its setting
        field_name, message = message.split(": ", 1)
        name = field_name.upper()
    if name in SECRET_NAMES:
        return f"invalid setting {name}: {message}"
    raw = _raw_input(exc)
    shown = f" (got {raw!r})" if raw is not None and len(raw) <= 80 else ""
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
        raise ValueError(f"{exc} (got {template!r})") from None
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
    segments = sample.split("/")
    if sample.startswith("/") or any(s in ("", ".", "..") for s in segments) or sample == CARD_PATH:
        raise ValueError(f"must be a relative file path in the dataset (got {template!r})")


# --- provider routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMap:
    """What providers.toml says: routes, providers without a chat route, the fallback."""

    source: str
    routes: dict[str, str]
    no_chat_route: dict[str, str] = field(default_factory=dict)
    unified_fallback: bool = True
    shipped: bool = False  # the file inside the package, not the user's own

    def how_to_add(self) -> str:
        if self.shipped:
            return f"copy {self.source}, add them, and point PROVIDER_ENDPOINT_MAPPING_PATH at it"
        return f"add them to {self.source}"


def default_mapping_path() -> Path:
    return Path(str(resources.files("inference_tracker") / "providers.toml"))


def load_provider_map(path: Path | None) -> ProviderMap:
    """Load and check providers.toml; every problem is a ConfigError naming the file."""
    shipped = path is None
    path = path or default_mapping_path()
    label = f"PROVIDER_ENDPOINT_MAPPING_PATH {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: malformed TOML: {exc}") from None

    routes = data.get("routes", {})
    no_chat = data.get("no_chat_route", {})
    fallback = data.get("unmapped_providers", "unified")
    if not isinstance(routes, dict) or not isinstance(no_chat, dict):
        raise ConfigError(f"{label}: [routes] and [no_chat_route] must be tables")
    if fallback not in ("unified", "skip"):
        raise ConfigError(f'{label}: unmapped_providers must be "unified" or "skip"')
    for name, route in routes.items():
        if not isinstance(route, str) or not route.startswith("/"):
            raise ConfigError(f"{label}: route for {name!r} must be a string starting with '/'")
        leftover = route.replace("{model}", "")
        if "{" in leftover or "}" in leftover:
            raise ConfigError(f"{label}: route for {name!r} may only use the {{model}} placeholder")
    for name, reason in no_chat.items():
        if not isinstance(reason, str):
            raise ConfigError(
                f"{label}: reason for {name!r} under [no_chat_route] must be a string"
            )
    return ProviderMap(
        source=str(path),
        routes=dict(routes),
        no_chat_route=dict(no_chat),
        unified_fallback=fallback == "unified",
        shipped=shipped,
    )
