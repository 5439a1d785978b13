"""providers.toml: the provider -> route map, and its strict reading.

Maps a provider name to its chat route under ROUTER_BASE_URL (hf-api.md section 2). Every
problem is a ConfigError naming the file, the line and the problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from inference_tracker.errors import ConfigError


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
    """Load and check providers.toml; every problem is a ConfigError naming the file and line."""
    shipped = path is None
    path = path or default_mapping_path()
    label = f"PROVIDER_ENDPOINT_MAPPING_PATH {path}"
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: malformed TOML: {exc}") from None
    if not data:
        raise ConfigError(f"{label} is empty: it needs a [routes] table")
    lines = _first_lines(text)

    def fail(where: tuple[str, ...], problem: str) -> NoReturn:
        raise ConfigError(f"{label} line {_line_of(lines, where)}: {problem}")

    for name, value in data.items():
        if name in ("routes", "no_chat_route"):
            if not isinstance(value, dict):
                fail((name,), f"{name} must be a [{name}] table")
        elif isinstance(value, dict):
            fail((name,), f"unknown table [{name}] (known: [routes], [no_chat_route])")
        elif name != "unmapped_providers":
            fail((name,), f"unknown key {name} (known: unmapped_providers)")
    fallback = data.get("unmapped_providers", "unified")
    if fallback not in ("unified", "skip"):
        fail(("unmapped_providers",), 'unmapped_providers must be "unified" or "skip"')
    routes: dict[str, Any] = data.get("routes", {})
    no_chat: dict[str, Any] = data.get("no_chat_route", {})
    for name, route in routes.items():
        where = ("routes", name)
        if not isinstance(route, str) or not route.startswith("/"):
            fail(where, f"route for {name!r} must be a string starting with '/'")
        leftover = route.replace("{model}", "")
        if "{" in leftover or "}" in leftover:
            fail(where, f"route for {name!r} may only use the {{model}} placeholder")
    for name, reason in no_chat.items():
        where = ("no_chat_route", name)
        if not isinstance(reason, str):
            fail(where, f"reason for {name!r} under [no_chat_route] must be a string")
        if name in routes:
            other = _line_of(lines, ("routes", name))
            both = f"[routes] (line {other}) and [no_chat_route]"
            fail(where, f"provider {name!r} is under both {both}")
    return ProviderMap(
        source=str(path),
        routes=dict(routes),
        no_chat_route=dict(no_chat),
        unified_fallback=fallback == "unified",
        shipped=shipped,
    )


_TABLE_HEADER = re.compile(r"\s*\[\[?([^\]]*)\]")


def _first_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line (from 1) that first defines each table and key of a TOML text, by key path.

    tomllib gives no line numbers for keys, so each line is read on its own: a table header
    sets the table that the keys below it belong to.
    """
    first: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE_HEADER.match(line)
        if header:  # a line of a multi-line array may look like one: keep the table then
            path = table = _key_path(f"[{header[1]}]") or table
        elif "=" in line:
            path = table + _key_path(line.split("=", 1)[0] + "= 0")
        else:
            continue
        for end in range(1, len(path) + 1):  # a.b = ... also defines table a
            first.setdefault(path[:end], number)
    return first


def _key_path(snippet: str) -> tuple[str, ...]:
    """The key path a one-line TOML snippet defines ('a."b-c" = 0' gives ('a', 'b-c'))."""
    try:
        node: object = tomllib.loads(snippet)
    except tomllib.TOMLDecodeError:
        return ()
    path: tuple[str, ...] = ()
    while isinstance(node, dict) and len(node) == 1:
        ((key, node),) = node.items()
        path += (key,)
    return path


def _line_of(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int:
    """The line of a key, or of the nearest table holding it (an inline table has no lines)."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)
