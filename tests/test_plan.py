from __future__ import annotations

import dataclasses
import json

import pytest

from inference_tracker.cycle import CallTemplate, plan_calls
from inference_tracker.discovery import Pair
from inference_tracker.providers import ProviderMap, load_provider_map
from tests.helpers import quiet_log

BASE = "https://router.huggingface.co"
REQUEST = CallTemplate(
    router_base_url=BASE,
    prompt="Solve this: 123/2*3.2*9",
    max_tokens=512,
    user_agent="inference-tracker/test",
)
SHIPPED = load_provider_map(None)

EXPECTED_URLS = {
    "baseten": f"{BASE}/baseten/v1/chat/completions",
    "cerebras": f"{BASE}/cerebras/v1/chat/completions",
    "cohere": f"{BASE}/cohere/compatibility/v1/chat/completions",
    "deepinfra": f"{BASE}/deepinfra/v1/openai/chat/completions",
    "featherless-ai": f"{BASE}/featherless-ai/v1/chat/completions",
    "fireworks-ai": f"{BASE}/fireworks-ai/inference/v1/chat/completions",
    "groq": f"{BASE}/groq/openai/v1/chat/completions",
    "hf-inference": f"{BASE}/hf-inference/models/org/Model-7B/v1/chat/completions",
    "novita": f"{BASE}/novita/v3/openai/chat/completions",
    "nscale": f"{BASE}/nscale/v1/chat/completions",
    "ovhcloud": f"{BASE}/ovhcloud/v1/chat/completions",
    "publicai": f"{BASE}/publicai/v1/chat/completions",
    "scaleway": f"{BASE}/scaleway/v1/chat/completions",
    "together": f"{BASE}/together/v1/chat/completions",
    "zai-org": f"{BASE}/zai-org/api/paas/v4/chat/completions",
}


def test_expectations_cover_every_provider_in_the_file() -> None:
    assert set(EXPECTED_URLS) == set(SHIPPED.routes)


@pytest.mark.parametrize("provider, url", sorted(EXPECTED_URLS.items()))
def test_url_for_every_provider_in_the_file(provider: str, url: str) -> None:
    log, _ = quiet_log()
    [call] = plan_calls([Pair("org/Model-7B", provider, "org/Model-7B")], SHIPPED, REQUEST, log)
    assert call.url == url
    assert json.loads(call.body)["model"] == "org/Model-7B"
    assert call.skip_reason == ""


def test_request_body_is_exactly_the_spec() -> None:
    """Streamed by default (STREAM=true); STREAM=false keeps the non-streamed body exactly."""
    log, _ = quiet_log()
    [call] = plan_calls([Pair("m/x", "groq", "llama-x")], SHIPPED, REQUEST, log)
    assert call.body == (
        '{"messages":[{"role":"user","content":"Solve this: 123/2*3.2*9"}],'
        '"max_tokens":512,"model":"llama-x","stream":true,"stream_options":{"include_usage":true}}'
    )
    plain = dataclasses.replace(REQUEST, stream=False)
    [call] = plan_calls([Pair("m/x", "groq", "llama-x")], SHIPPED, plain, log)
    assert call.body == (
        '{"messages":[{"role":"user","content":"Solve this: 123/2*3.2*9"}],'
        '"max_tokens":512,"model":"llama-x","stream":false}'
    )
    assert call.headers == {
        "Content-Type": "application/json",
        "User-Agent": "inference-tracker/test",
    }
    assert "Authorization" not in call.headers


def test_bill_to_header_when_set() -> None:
    log, _ = quiet_log()
    request = CallTemplate(BASE, "p", 8, "ua", bill_to="my-org")
    [call] = plan_calls([Pair("m/x", "groq", "x")], SHIPPED, request, log)
    assert call.headers["X-HF-Bill-To"] == "my-org"


def test_unknown_provider_uses_the_unified_route_and_warns_once() -> None:
    log, stream = quiet_log()
    pairs = [Pair("org/a", "newco", "nc/a"), Pair("org/b", "newco", "nc/b")]
    calls = plan_calls(pairs, SHIPPED, REQUEST, log)
    assert [c.url for c in calls] == [f"{BASE}/v1/chat/completions"] * 2
    assert [json.loads(c.body)["model"] for c in calls] == ["org/a:newco", "org/b:newco"]
    warnings = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [w["event"] for w in warnings] == ["unmapped_providers"]
    assert warnings[0]["providers"] == ["newco"]
    assert "copy" in warnings[0]["hint"] and "PROVIDER_ENDPOINT_MAPPING_PATH" in warnings[0]["hint"]


def test_with_a_custom_mapping_the_hint_names_that_file() -> None:
    log, stream = quiet_log()
    providers = ProviderMap(source="/etc/tracker/providers.toml", routes={})
    plan_calls([Pair("org/a", "newco", "nc/a")], providers, REQUEST, log)
    assert json.loads(stream.getvalue())["hint"] == "add them to /etc/tracker/providers.toml"


def test_fallback_off_makes_a_row_without_a_call() -> None:
    log, _ = quiet_log()
    providers = ProviderMap(source="p.toml", routes={}, unified_fallback=False)
    [call] = plan_calls([Pair("org/a", "newco", "nc/a")], providers, REQUEST, log)
    assert "fallback off" in call.skip_reason


def test_providers_without_a_chat_route_make_no_call() -> None:
    log, _ = quiet_log()
    [call] = plan_calls([Pair("org/a", "fal-ai", "f/a")], SHIPPED, REQUEST, log)
    assert call.skip_reason.startswith("fal-ai: image and video provider")


def test_model_ids_in_the_path_are_quoted() -> None:
    log, _ = quiet_log()
    [call] = plan_calls([Pair("o/m", "hf-inference", "o/m v1?x")], SHIPPED, REQUEST, log)
    assert call.url == f"{BASE}/hf-inference/models/o/m%20v1%3Fx/v1/chat/completions"
