"""The standalone fake router (benchmarks, manual trials) reads every JSON-able World field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.router import World, listing, world_from_file


def test_a_world_file_sets_every_field_it_names(tmp_path: Path) -> None:
    spec = {
        "listing": listing({"org/m": ["groq"]}),
        "listing_status": 503,
        "listing_trickle": 0.01,
        "behaviours": {"groq": {"kind": "status", "status": 429}},
        "default": {"kind": "ok", "delay": 0.1},
        "catalog": {"object": "list", "data": []},
        "catalog_status": 500,
        "catalog_hang": 2.0,
    }
    path = tmp_path / "world.json"
    path.write_text(json.dumps(spec))
    assert world_from_file(path) == World(**spec)


def test_a_world_file_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(json.dumps({"listin": {}}))
    with pytest.raises(ValueError, match="listin"):
        world_from_file(path)
