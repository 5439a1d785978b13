"""The router's own view of every provider (`GET {ROUTER_BASE_URL}/v1/models`): its status, the
time to first token and throughput of Hugging Face's validation probe, and the prices.

Read leniently (hf-api.md 3.2): only `provider` and `status` are always there, every other
field is optional, unknown fields are ignored and a malformed entry is skipped. The models-json
listing carries a subset per provider (`tokensPerSecond`, `pricingOutput`); where the catalog
has no figure for a pair, the listing's is used: the catalog wins.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from inference_tracker.clock import Clock
from inference_tracker.discovery import Pair, get_whole
from inference_tracker.errors import ListingError
from inference_tracker.logs import EventLog

CATALOG_PATH = "/v1/models"
CATALOG_TIMEOUT_SECONDS = 20.0
MAX_CATALOG_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Advertised:
    """What the router says of one (model, provider) pair; None where it says nothing."""

    status: str | None = None  # "live" or "error"
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    price_input_per_m: float | None = None  # USD per million tokens
    price_output_per_m: float | None = None


Catalog = dict[tuple[str, str], Advertised]  # (model id, provider) -> what it advertises


def parse_catalog(payload: bytes, source: str) -> Catalog:
    """The pairs of a /v1/models answer. ListingError when it is not such an answer at all."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ListingError(f"router catalog from {source} is not valid JSON: {exc}") from None
    models = data.get("data") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ListingError(f"router catalog from {source} has no 'data' list")
    catalog: Catalog = {}
    for model in models:
        model_id = model.get("id") if isinstance(model, dict) else None
        providers = model.get("providers") if isinstance(model, dict) else None
        if not isinstance(model_id, str) or not isinstance(providers, list):
            continue
        for entry in providers:
            if not isinstance(entry, dict):
                continue
            provider, status = entry.get("provider"), entry.get("status")
            if not isinstance(provider, str) or not provider or not isinstance(status, str):
                continue
            pricing = entry.get("pricing")
            pricing = pricing if isinstance(pricing, dict) else {}
            catalog[(model_id, provider)] = Advertised(
                status=status,
                ttft_ms=_number(entry.get("first_token_latency_ms")),
                tokens_per_s=_number(entry.get("throughput")),
                price_input_per_m=_number(pricing.get("input")),
                price_output_per_m=_number(pricing.get("output")),
            )
    return catalog


def fetch_catalog(
    session: requests.Session, router_base_url: str, user_agent: str, clock: Clock = Clock()
) -> Catalog:
    """GET the catalog, whole, within CATALOG_TIMEOUT_SECONDS and MAX_CATALOG_BYTES."""
    url = router_base_url + CATALOG_PATH
    deadline = clock.monotonic() + CATALOG_TIMEOUT_SECONDS
    body = get_whole(
        session, url, user_agent, deadline, clock, what="router catalog", limit=MAX_CATALOG_BYTES
    )
    return parse_catalog(body, url)


def advertised_for(pair: Pair, catalog: Catalog) -> Advertised:
    """The catalog's figures for the pair, its gaps filled from the listing's own."""
    found = catalog.get((pair.model_id, pair.provider_name), Advertised())
    return Advertised(
        status=found.status,
        ttft_ms=found.ttft_ms,
        tokens_per_s=found.tokens_per_s if found.tokens_per_s is not None else pair.tokens_per_s,
        price_input_per_m=found.price_input_per_m,
        price_output_per_m=(
            found.price_output_per_m
            if found.price_output_per_m is not None
            else pair.price_output_per_m
        ),
    )


def cost_usd(
    prompt_tokens: int | None, completion_tokens: int | None, advertised: Advertised
) -> float | None:
    """What a call cost at the advertised prices; None when a price or the usage is unknown."""
    prices = (advertised.price_input_per_m, advertised.price_output_per_m)
    if prompt_tokens is None or completion_tokens is None or None in prices:
        return None
    price_in, price_out = prices
    assert price_in is not None and price_out is not None
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000


class Background:
    """The catalog fetched on a thread while the calls run. `take` never waits: a catalog not
    there when the calls are done (slow, failing) is a warning and the cycle goes on."""

    def __init__(self, fetch: Callable[[], Catalog], log: EventLog) -> None:
        self._fetch = fetch
        self._log = log
        self._catalog: Catalog | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="catalog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._catalog = self._fetch()
        except ListingError as exc:
            self._error = str(exc)
        except Exception as exc:  # a bug here must not cost the cycle its rows
            self._error = f"internal: {exc!r}"

    def take(self) -> Catalog:
        if self._thread.is_alive():
            self._log.warning("catalog_missing", reason="not in yet when the calls were done")
            return {}
        if self._error is not None:
            self._log.warning("catalog_missing", reason=self._error)
            return {}
        return self._catalog or {}


def _number(value: Any) -> float | None:
    """A finite, non-negative number (bools are not numbers); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None
