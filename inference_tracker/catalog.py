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

import requests

from inference_tracker.clock import Clock
from inference_tracker.discovery import Pair
from inference_tracker.errors import ListingError
from inference_tracker.logs import EventLog
from inference_tracker.net import get_whole
from inference_tracker.record import Advertised, advertised_figure, cost_usd

CATALOG_PATH = "/v1/models"
CATALOG_TIMEOUT_SECONDS = 20.0
MAX_CATALOG_BYTES = 32 * 1024 * 1024


Catalog = dict[tuple[str, str], Advertised]  # (model id, provider) -> what it advertises
STATUSES = ("live", "error")  # another status is kept as "" (the entry's figures are kept)


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
                status=status if status in STATUSES else "",
                ttft_ms=advertised_figure(entry.get("first_token_latency_ms")),
                tokens_per_s=advertised_figure(entry.get("throughput")),
                price_input_per_m=advertised_figure(pricing.get("input")),
                price_output_per_m=advertised_figure(pricing.get("output")),
            )
    return catalog


def fetch_catalog(
    session: requests.Session, router_base_url: str, user_agent: str, clock: Clock = Clock()
) -> Catalog:
    """GET the catalog, whole, within CATALOG_TIMEOUT_SECONDS and MAX_CATALOG_BYTES."""
    url = router_base_url + CATALOG_PATH
    ends_at = clock.monotonic() + CATALOG_TIMEOUT_SECONDS
    body = get_whole(
        session, url, user_agent, ends_at, clock, what="router catalog", limit=MAX_CATALOG_BYTES
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


CHARS_PER_TOKEN = 4  # the prompt's tokens, estimated from its length (no tokenizer here)


@dataclass(frozen=True)
class Estimate:
    """The worst case of one cycle: every call answers MAX_TOKENS_DEFAULT tokens."""

    per_call: list[float | None]  # by call, in the plan's order; None without both prices
    cycle_usd: float  # the priced calls' sum
    unpriced: list[str]  # "provider (model)" of the calls without a price
    priced: int  # calls made with a price (a pair skipped on purpose costs 0 but is not one)

    def per_day_usd(self, interval_seconds: float) -> float:
        return self.cycle_usd * 86400 / interval_seconds

    @property
    def known(self) -> bool:
        """False when calls are made and none has a price: the worst case is unknown, not $0."""
        return self.priced > 0 or not self.unpriced


def worst_case(
    pairs: list[Pair], called: list[bool], catalog: Catalog, prompt: str, max_tokens: int
) -> Estimate:
    """What a cycle can cost at most: the prompt (about CHARS_PER_TOKEN characters a token)
    and max_tokens of output, at each pair's prices; pairs not called cost nothing."""
    prompt_tokens = math.ceil(len(prompt) / CHARS_PER_TOKEN)
    per_call: list[float | None] = []
    unpriced = []
    for pair, made in zip(pairs, called, strict=True):
        cost = cost_usd(prompt_tokens, max_tokens, advertised_for(pair, catalog)) if made else 0.0
        per_call.append(cost)
        if cost is None:
            unpriced.append(f"{pair.provider_name} ({pair.model_id})")
    priced = sum(
        1 for cost, made in zip(per_call, called, strict=True) if made and cost is not None
    )
    return Estimate(per_call, sum(c for c in per_call if c is not None), unpriced, priced)


GRACE_SECONDS = 1.0  # how long a catalog not in when the calls are done is waited for


class Background:
    """The catalog fetched on a thread while the calls run. When the calls are done, `take`
    gives it at most GRACE_SECONDS more: a slow catalog costs the cycle that second at most,
    never its own slowness; a catalog not in by then, or failing, is a warning."""

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

    def take(self, grace: float = GRACE_SECONDS) -> Catalog:
        self._thread.join(grace)
        if self._thread.is_alive():
            self._log.warning("catalog_missing", reason="not in yet when the calls were done")
            return {}
        if self._error is not None:
            self._log.warning("catalog_missing", reason=self._error)
            return {}
        return self._catalog or {}
