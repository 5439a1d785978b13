"""`tracker check`: every check against the fake router (listing) and the fake Hub, as cron
would meet them, with the real huggingface_hub client and nothing written anywhere."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference_tracker import net
from inference_tracker.check import CheckResult, exit_code, render_checks, run_checks
from inference_tracker.clock import Clock
from inference_tracker.config import Settings
from inference_tracker.hub import Hub, HubLimits
from tests.fakes.hub import FakeHub, scope, whoami_body
from tests.fakes.router import FakeRouter, World, listing
from tests.hub_helpers import HUB_TOKEN, INFERENCE_TOKEN, READ_TOKEN, REPO

NO_WAIT = Clock(sleep=lambda seconds: None)
FAST = HubLimits(total_seconds=10.0, request_seconds=5.0)
SILENT = HubLimits(total_seconds=1.0, request_seconds=0.3)
NAMES = ["settings", "providers.toml", "storage", "listing", "HF_TOKEN", "dataset"]

# Fine-grained tokens, as the Hub describes them in /api/whoami-v2.
FINE_NOTHING = "hf_" + "FineNothing0" * 3
FINE_INFER_GLOBAL = "hf_" + "FineInferGlb" * 3
FINE_INFER_USER = "hf_" + "FineInferUsr" * 3
FINE_REPO_ME = "hf_" + "FineRepoMe00" * 3
FINE_READ_ME = "hf_" + "FineReadMe00" * 3
ORG_WRITER = "hf_" + "OrgWriter000" * 3
ORG_READER = "hf_" + "OrgReader000" * 3
UNKNOWN = "hf_" + "NotAToken000" * 3
ALL_TOKENS = [
    HUB_TOKEN,
    READ_TOKEN,
    INFERENCE_TOKEN,
    FINE_NOTHING,
    FINE_INFER_GLOBAL,
    FINE_INFER_USER,
    FINE_REPO_ME,
    FINE_READ_ME,
    ORG_WRITER,
    ORG_READER,
    UNKNOWN,
]
USERS = {
    FINE_NOTHING: whoami_body(role="fineGrained", scoped=[scope("me", "repo.content.read")]),
    FINE_INFER_GLOBAL: whoami_body(
        role="fineGrained", global_permissions=["inference.serverless.write"]
    ),
    FINE_INFER_USER: whoami_body(
        role="fineGrained", scoped=[scope("me", "repo.content.read", "inference.serverless.write")]
    ),
    FINE_REPO_ME: whoami_body(
        role="fineGrained", scoped=[scope("me", "repo.content.read", "repo.write")]
    ),
    FINE_READ_ME: whoami_body(role="fineGrained", scoped=[scope("me", "repo.content.read")]),
    ORG_WRITER: whoami_body(orgs={"acme": "write"}),
    ORG_READER: whoami_body(orgs={"acme": "read"}),
}


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    world = World(listing=listing({"org/A": ["p1", "p2"], "org/B": ["p1"]}))
    with FakeRouter(world) as fake:
        yield fake


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    tokens = {HUB_TOKEN: "write", READ_TOKEN: "read", INFERENCE_TOKEN: "read"}
    with FakeHub(tokens=tokens, users=USERS) as fake:
        fake.create_repo(REPO)
        yield fake


def settings_for(tmp_path: Path, router: FakeRouter, hub: FakeHub, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "hf_token": INFERENCE_TOKEN,
        "hf_hub_token": HUB_TOKEN,
        "hf_dataset_repo_id": REPO,
        "hf_endpoint": hub.url,
        "models_api_url": router.listing_url,
        "local_csv_path": tmp_path / "data" / "metrics_buffer.csv",
        **changes,
    }
    return Settings(**fields)


def check(settings: Settings, **options: Any) -> list[CheckResult]:
    options.setdefault("hub_limits", FAST)
    return run_checks(settings, session=net.make_session(4), clock=NO_WAIT, **options)


def result(results: list[CheckResult], name: str) -> CheckResult:
    found = [r for r in results if r.name == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- everything in order ---------------------------------------------------------------------


def test_a_good_set_up_passes_every_check(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    results = check(settings_for(tmp_path, router, hub))
    assert [r.name for r in results] == NAMES
    assert [r.status for r in results] == ["ok"] * 6, results
    assert result(results, "listing").detail == (
        f"2 models, 3 live pairs from {router.listing_url}"
    )
    assert result(results, "HF_TOKEN").detail.startswith("valid, user me")
    assert result(results, "dataset").detail == f"{REPO} exists and HF_HUB_TOKEN can write to it"
    assert result(results, "providers.toml").detail.endswith("providers.toml")
    assert " routes from " in result(results, "providers.toml").detail
    assert exit_code(results) == 0
    # HF_TOKEN went to whoami, HF_HUB_TOKEN to the dataset, never the other way round.
    assert {s.token for s in hub.calls("whoami")} == {INFERENCE_TOKEN}
    assert {s.token for s in hub.calls("auth-check")} == {HUB_TOKEN}
    assert {s.token for s in hub.calls("info")} == {HUB_TOKEN}


def test_setting_warnings_are_warn_lines_and_do_not_fail(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    warnings = ["unknown setting HF_TOKNE in .env (did you mean HF_TOKEN?)", "another"]
    results = check(settings_for(tmp_path, router, hub), warnings=warnings)
    settings_lines = [r for r in results if r.name == "settings"]
    assert [(r.status, r.detail) for r in settings_lines[1:]] == [("warn", w) for w in warnings]
    assert settings_lines[0].status == "ok"
    assert exit_code(results) == 0


def test_the_settings_line_names_the_env_file_only_when_one_is_read(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    settings = settings_for(tmp_path, router, hub)
    assert result(check(settings), "settings").detail == "loaded from the environment"
    dotenv = tmp_path / ".env"
    detail = result(check(settings, dotenv=dotenv), "settings").detail
    assert detail == f"loaded from the environment and {dotenv}"


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[routes]\nx = 'no-slash'\n", "route for 'x' must be a string starting with '/'"),
        ("[routes\n", "malformed TOML"),
        (None, "file not found"),
    ],
)
def test_a_bad_providers_toml_is_a_configuration_failure(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, content: str | None, message: str
) -> None:
    path = tmp_path / "providers.toml"
    if content is not None:
        path.write_text(content)
    results = check(settings_for(tmp_path, router, hub, provider_endpoint_mapping_path=path))
    failed = result(results, "providers.toml")
    assert failed.status == "FAIL" and failed.config
    assert message in failed.detail and str(path) in failed.detail
    assert exit_code(results) == 2
    assert [r.name for r in results] == NAMES  # the other checks still ran
    assert result(results, "listing").status == "ok"


def test_a_config_failure_outranks_other_failures() -> None:
    results = [
        CheckResult("listing", "FAIL", "down"),
        CheckResult("providers.toml", "FAIL", "bad", config=True),
    ]
    assert exit_code(results) == 2
    assert exit_code([CheckResult("listing", "FAIL", "down")]) == 1
    ok = [
        CheckResult("settings", "ok", "x"),
        CheckResult("settings", "warn", "y"),
        CheckResult("dataset", "warn", "z"),
    ]
    assert exit_code(ok) == 0


# --- storage ---------------------------------------------------------------------------------


def test_missing_folders_that_can_be_created_pass(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    settings = settings_for(
        tmp_path, router, hub, local_csv_path=tmp_path / "a" / "b" / "buffer.csv"
    )
    storage = result(check(settings), "storage")
    assert storage.status == "ok"
    assert str(tmp_path / "a" / "b" / "buffer.csv") in storage.detail
    assert not (tmp_path / "a").exists()


def test_a_buffer_folder_that_is_a_file_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    (tmp_path / "data").write_text("not a folder")
    storage = result(check(settings_for(tmp_path, router, hub)), "storage")
    assert storage.status == "FAIL"
    assert f"{tmp_path / 'data'} is not a folder" in storage.detail


def test_a_state_dir_under_a_file_fails(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    (tmp_path / "blocker").write_text("x")
    settings = settings_for(tmp_path, router, hub, state_dir=tmp_path / "blocker" / "state")
    storage = result(check(settings), "storage")
    assert storage.status == "FAIL"
    assert "STATE_DIR" in storage.detail
    assert f"{tmp_path / 'blocker'} is not a folder" in storage.detail


def test_a_state_json_that_is_a_folder_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    settings = settings_for(tmp_path, router, hub)
    (settings.state_folder / "state.json").mkdir(parents=True)
    storage = result(check(settings), "storage")
    assert storage.status == "FAIL"
    assert f"{settings.state_folder / 'state.json'} is a folder, not a file" in storage.detail


def test_a_buffer_that_is_a_folder_fails(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    settings = settings_for(tmp_path, router, hub)
    settings.local_csv_path.mkdir(parents=True)
    storage = result(check(settings), "storage")
    assert storage.status == "FAIL"
    assert f"{settings.local_csv_path} is a folder, not a file" in storage.detail


def test_a_prometheus_textfile_in_a_usable_folder_passes(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    textfile = tmp_path / "tracker.prom"
    settings = settings_for(tmp_path, router, hub, prometheus_textfile=textfile)
    storage = result(check(settings), "storage")
    assert storage.status == "ok"
    assert f"PROMETHEUS_TEXTFILE {textfile}" in storage.detail
    assert not textfile.exists()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("missing/tracker.prom", "does not exist"),
        ("blocker/tracker.prom", "is not a folder"),
        ("folder.prom", "is a folder, not a file"),
    ],
)
def test_a_prometheus_textfile_that_cannot_be_written_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, where: str, why: str
) -> None:
    (tmp_path / "blocker").write_text("x")
    (tmp_path / "folder.prom").mkdir()
    textfile = tmp_path / where
    settings = settings_for(tmp_path, router, hub, prometheus_textfile=textfile)
    storage = result(check(settings), "storage")
    assert storage.status == "FAIL"
    assert "PROMETHEUS_TEXTFILE" in storage.detail and why in storage.detail
    assert not (tmp_path / "missing").exists()


# --- listing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("world", "message"),
    [
        (World(listing_status=500), "model listing answered HTTP 500"),
        (World(listing_raw=b"<!doctype html><html>busy</html>"), "is HTML, not JSON"),
        (
            World(listing=listing({"org/A": ["p1"]}, extra_status="error")),
            "collect would measure nothing: check MODELS_API_URL",
        ),
        (World(listing=listing({})), "collect would measure nothing: check MODELS_API_URL"),
    ],
)
def test_a_listing_that_gives_nothing_to_measure_fails(
    tmp_path: Path, hub: FakeHub, world: World, message: str
) -> None:
    with FakeRouter(world) as router:
        results = check(settings_for(tmp_path, router, hub))
    failed = result(results, "listing")
    assert failed.status == "FAIL" and not failed.config
    assert message in failed.detail
    assert exit_code(results) == 1


def test_an_unreachable_listing_fails_with_one_line(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/models-json"
    settings = settings_for(tmp_path, router, hub, models_api_url=url)
    failed = result(check(settings), "listing")
    assert failed.status == "FAIL"
    assert failed.detail == f"model listing unreachable at {url}: connection refused"


def test_a_listing_that_trickles_is_cut_at_listing_seconds(tmp_path: Path, hub: FakeHub) -> None:
    with FakeRouter(World(listing_trickle=0.05)) as router:
        started = time.monotonic()
        results = check(settings_for(tmp_path, router, hub), listing_seconds=0.5)
    assert time.monotonic() - started < 5
    assert "did not arrive whole" in result(results, "listing").detail


# --- HF_TOKEN --------------------------------------------------------------------------------


def test_no_hf_token_fails_and_says_which_token_to_make(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    results = check(settings_for(tmp_path, router, hub, hf_token=None))
    failed = result(results, "HF_TOKEN")
    assert failed.status == "FAIL"
    assert "set HF_TOKEN" in failed.detail
    assert "'Make calls to Inference Providers'" in failed.detail
    assert "https://huggingface.co/settings/tokens" in failed.detail
    assert hub.calls("whoami") == []
    assert exit_code(results) == 2  # a setting missing, as collect says (exit 2)


def test_an_invalid_hf_token_fails(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    failed = result(check(settings_for(tmp_path, router, hub, hf_token=UNKNOWN)), "HF_TOKEN")
    assert failed.status == "FAIL"
    assert "HF_TOKEN is not a valid token" in failed.detail and "401" in failed.detail


def test_a_fine_grained_token_without_inference_fails_naming_the_permission(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    failed = result(check(settings_for(tmp_path, router, hub, hf_token=FINE_NOTHING)), "HF_TOKEN")
    assert failed.status == "FAIL"
    assert "'Make calls to Inference Providers'" in failed.detail
    assert "inference.serverless.write" in failed.detail
    assert "user me" in failed.detail


@pytest.mark.parametrize("token", [FINE_INFER_GLOBAL, FINE_INFER_USER])
def test_a_fine_grained_token_with_inference_passes(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, token: str
) -> None:
    passed = result(check(settings_for(tmp_path, router, hub, hf_token=token)), "HF_TOKEN")
    assert passed.status == "ok"
    assert passed.detail.startswith("valid, user me")


def test_a_read_token_can_call_inference(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    passed = result(check(settings_for(tmp_path, router, hub, hf_token=READ_TOKEN)), "HF_TOKEN")
    assert passed.status == "ok"
    assert passed.detail == "valid, user me (read token)"


def test_a_hub_that_fails_whoami_fails_with_one_line(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    hub.fail("whoami", 500, times=None)
    failed = result(check(settings_for(tmp_path, router, hub)), "HF_TOKEN")
    assert failed.status == "FAIL"
    assert failed.detail.startswith(f"Hub failed at {hub.url}: 500 ")
    assert "\n" not in failed.detail


# --- dataset ---------------------------------------------------------------------------------


def test_push_not_configured_warns_that_collect_needs_no_push(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    results = check(settings_for(tmp_path, router, hub, hf_hub_token=None, hf_dataset_repo_id=""))
    warned = result(results, "dataset")
    assert warned.status == "warn"
    assert warned.detail == (
        "push not configured (HF_HUB_TOKEN and HF_DATASET_REPO_ID unset): collect exits 3"
        " at every push boundary unless run with --no-push"
    )
    assert exit_code(results) == 0
    assert {s.token for s in hub.requests} == {INFERENCE_TOKEN}


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"hf_hub_token": None}, "HF_HUB_TOKEN"),
        ({"hf_dataset_repo_id": ""}, "HF_DATASET_REPO_ID"),
    ],
)
def test_push_half_configured_fails_naming_the_missing_setting(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, changes: dict[str, Any], missing: str
) -> None:
    results = check(settings_for(tmp_path, router, hub, **changes))
    failed = result(results, "dataset")
    assert failed.status == "FAIL" and failed.config
    assert failed.detail.startswith(f"{missing} is not set")
    assert exit_code(results) == 2
    assert {s.token for s in hub.requests} == {INFERENCE_TOKEN}


def test_an_existing_dataset_and_a_read_token_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    results = check(settings_for(tmp_path, router, hub, hf_hub_token=READ_TOKEN))
    failed = result(results, "dataset")
    assert failed.status == "FAIL"
    assert failed.detail.startswith(f"{REPO} exists but HF_HUB_TOKEN cannot write to it")
    assert "write token" in failed.detail
    assert exit_code(results) == 1
    assert {s.token for s in hub.calls("whoami")} == {INFERENCE_TOKEN}  # it exists: no whoami


def test_an_existing_dataset_and_a_fine_grained_writer_passes(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    passed = result(
        check(settings_for(tmp_path, router, hub, hf_hub_token=FINE_REPO_ME)), "dataset"
    )
    assert passed.status == "ok", passed


def test_an_existing_dataset_and_a_fine_grained_reader_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    failed = result(
        check(settings_for(tmp_path, router, hub, hf_hub_token=FINE_READ_ME)), "dataset"
    )
    assert failed.status == "FAIL"
    assert "cannot write to it" in failed.detail


def test_an_invalid_hub_token_fails(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    failed = result(check(settings_for(tmp_path, router, hub, hf_hub_token=UNKNOWN)), "dataset")
    assert failed.status == "FAIL"
    assert "HF_HUB_TOKEN is not a valid token" in failed.detail and "401" in failed.detail


@pytest.mark.parametrize(
    ("token", "repo", "private"),
    [
        (HUB_TOKEN, "me/new-metrics", False),
        (HUB_TOKEN, "me/new-metrics", True),
        (FINE_REPO_ME, "me/new-metrics", False),
        (ORG_WRITER, "acme/new-metrics", False),
    ],
)
def test_a_dataset_that_the_first_push_can_create_passes(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, token: str, repo: str, private: bool
) -> None:
    settings = settings_for(tmp_path, router, hub, hf_hub_token=token, hf_dataset_repo_id=repo)
    settings = settings.model_copy(update={"hf_dataset_private": private})
    passed = result(check(settings), "dataset")
    visibility = "private" if private else "public"
    assert passed == CheckResult(
        "dataset",
        "ok",
        f"{repo} does not exist yet: the first push creates it ({visibility})",
    )
    assert hub.calls("create") == []
    assert ("dataset", repo) not in hub.repos


@pytest.mark.parametrize(
    ("token", "repo", "message"),
    [
        (READ_TOKEN, "me/new-metrics", "HF_HUB_TOKEN is a read token"),
        (HUB_TOKEN, "someone-else/new-metrics", "cannot create repos under someone-else"),
        (FINE_READ_ME, "me/new-metrics", "'repo.write'"),
        (FINE_REPO_ME, "acme/new-metrics", "'repo.write'"),
        (ORG_READER, "acme/new-metrics", "only a 'read' member of acme"),
    ],
)
def test_a_dataset_that_the_first_push_cannot_create_fails(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, token: str, repo: str, message: str
) -> None:
    settings = settings_for(tmp_path, router, hub, hf_hub_token=token, hf_dataset_repo_id=repo)
    failed = result(check(settings), "dataset")
    assert failed.status == "FAIL"
    assert failed.detail.startswith(f"{repo} does not exist")
    assert message in failed.detail
    assert hub.calls("create") == []


def test_a_hub_that_fails_the_dataset_check_fails_with_one_line(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    hub.fail("auth-check", 503, times=None)
    failed = result(check(settings_for(tmp_path, router, hub)), "dataset")
    assert failed.status == "FAIL"
    assert failed.detail.startswith(f"Hub failed at {hub.url}: 503 ")


# --- a dead Hub ------------------------------------------------------------------------------


def test_a_refused_hub_fails_both_hub_checks_at_once(tmp_path: Path, router: FakeRouter) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    settings = Settings(
        hf_token=INFERENCE_TOKEN,
        hf_hub_token=HUB_TOKEN,
        hf_dataset_repo_id=REPO,
        hf_endpoint=endpoint,
        models_api_url=router.listing_url,
        local_csv_path=tmp_path / "metrics_buffer.csv",
    )
    pauses: list[float] = []
    started = time.monotonic()
    results = run_checks(
        settings,
        session=net.make_session(4),
        clock=Clock(sleep=pauses.append),
        hub_limits=FAST,
    )
    assert time.monotonic() - started < 5 and pauses == []
    for name in ("HF_TOKEN", "dataset"):
        failed = result(results, name)
        assert failed.detail == f"Hub unreachable at {endpoint}: connection refused"
        assert failed.status == "FAIL"
    assert exit_code(results) == 1


def test_a_silent_hub_fails_both_hub_checks_within_the_limits(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    hub.hang("*")
    started = time.monotonic()
    results = check(settings_for(tmp_path, router, hub), hub_limits=SILENT)
    assert time.monotonic() - started < 10  # the fake would hold each request for 30 s
    for name in ("HF_TOKEN", "dataset"):
        failed = result(results, name)
        assert failed.status == "FAIL"
        assert failed.detail.startswith(f"Hub unreachable at {hub.url}: no answer within ")


def test_each_hub_check_has_its_own_session_bounded_by_default(
    tmp_path: Path, router: FakeRouter, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 s per Hub check, 5 s per request: a dead Hub ends the run in about 20 s."""
    from inference_tracker import hub as hub_module

    seen: list[tuple[str, HubLimits]] = []
    original = hub_module.Hub.__init__

    def spy(self: Hub, endpoint: str, token: str, **options: Any) -> None:
        seen.append((token, options["limits"]))
        original(self, endpoint, token, **options)

    monkeypatch.setattr(hub_module.Hub, "__init__", spy)
    run_checks(settings_for(tmp_path, router, hub), session=net.make_session(4), clock=NO_WAIT)
    assert seen == [
        (INFERENCE_TOKEN, HubLimits(total_seconds=10.0, request_seconds=5.0)),
        (HUB_TOKEN, HubLimits(total_seconds=10.0, request_seconds=5.0)),
    ]


# --- nothing written, nothing leaked ---------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int, float]]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            stat = path.lstat()
            out[str(path)] = (stat.st_mode, stat.st_size, stat.st_mtime)
    return out


def test_a_check_writes_nothing_anywhere(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    settings = settings_for(tmp_path, router, hub)
    settings.state_folder.mkdir(parents=True)
    settings.local_csv_path.write_text("header\n")
    (settings.state_folder / "state.json").write_text("{}")
    hf_home = Path(os.environ["HF_HOME"])
    before, before_home = snapshot(tmp_path), snapshot(hf_home)
    for private in (False, True):  # an existing dataset, then one the push would create
        check(settings.model_copy(update={"hf_dataset_private": private}))
        check(settings.model_copy(update={"hf_dataset_repo_id": "me/another"}))
    assert snapshot(tmp_path) == before
    assert snapshot(hf_home) == before_home
    assert {s.method for s in hub.requests} == {"GET"}
    assert hub.calls("create") == [] and hub.calls("commit") == []
    assert hub.calls("preupload") == []


def test_no_token_ever_reaches_the_output(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    rendered: list[str] = []
    cases: list[dict[str, Any]] = [
        {},
        {"hf_token": UNKNOWN, "hf_hub_token": READ_TOKEN},
        {"hf_hub_token": UNKNOWN, "hf_dataset_repo_id": "someone/x"},
        {"hf_token": FINE_NOTHING, "hf_hub_token": FINE_READ_ME},
    ]
    for changes in cases:
        results = check(settings_for(tmp_path, router, hub, **changes))
        rendered += [render_checks(results, as_json=False), render_checks(results, as_json=True)]
    # A Hub that echoes the token in its error message.
    hub.fail("whoami", 400, body={"error": f"bad token {INFERENCE_TOKEN}"})
    hub.fail("auth-check", 403, body={"error": f"token {HUB_TOKEN} cannot write"})
    results = check(settings_for(tmp_path, router, hub))
    assert result(results, "HF_TOKEN").status == "FAIL"
    assert result(results, "dataset").status == "FAIL"
    rendered += [render_checks(results, as_json=False), render_checks(results, as_json=True)]
    for text in rendered:
        for token in ALL_TOKENS:
            assert token not in text


# --- rendering -------------------------------------------------------------------------------


def test_text_has_one_line_per_check_and_a_verdict(
    tmp_path: Path, router: FakeRouter, hub: FakeHub
) -> None:
    results = check(settings_for(tmp_path, router, hub, hf_token=None))
    lines = render_checks(results, as_json=False).splitlines()
    assert len(lines) == len(results) + 1
    assert lines[3] == f"ok    listing: 2 models, 3 live pairs from {router.listing_url}"
    assert lines[4].startswith("FAIL  HF_TOKEN: ")
    assert lines[-1] == "1 check failed."


def test_text_verdicts() -> None:
    ok = [CheckResult("settings", "ok", "loaded"), CheckResult("dataset", "warn", "not set")]
    assert render_checks(ok, as_json=False).splitlines() == [
        "ok    settings: loaded",
        "warn  dataset: not set",
        "All checks passed, with 1 warning.",
    ]
    assert render_checks(ok[:1], as_json=False).splitlines()[-1] == "All checks passed."
    failed = [CheckResult("listing", "FAIL", "x"), CheckResult("HF_TOKEN", "FAIL", "y")]
    assert render_checks(failed, as_json=False).splitlines()[-1] == "2 checks failed."


def test_json_is_one_object_on_one_line(tmp_path: Path, router: FakeRouter, hub: FakeHub) -> None:
    results = check(settings_for(tmp_path, router, hub, hf_token=None))
    text = render_checks(results, as_json=True)
    assert "\n" not in text.strip()
    data = json.loads(text)
    assert data["ok"] is False
    assert [c["name"] for c in data["checks"]] == NAMES
    assert all(set(c) == {"name", "status", "detail"} for c in data["checks"])
    assert data["checks"][4]["status"] == "FAIL"
    passed = check(settings_for(tmp_path, router, hub))
    assert json.loads(render_checks(passed, as_json=True))["ok"] is True


# --- hub.py and the fake Hub -----------------------------------------------------------------


def test_hub_create_repo_makes_the_dataset_the_push_will_fill(hub: FakeHub) -> None:
    with Hub(hub.url, HUB_TOKEN, limits=FAST, clock=NO_WAIT) as session:
        session.create_repo("me/public-one", private=False)
        session.create_repo("me/private-one", private=True)
        session.create_repo(REPO, private=True)  # exists: left as it is
        assert session.repo_exists("me/private-one")
        assert not session.repo_exists("me/none")
        session.can_write("me/private-one")
    assert hub.repo("me/public-one").private is False
    assert hub.repo("me/private-one").private is True
    assert hub.repo(REPO).private is False
    sent = json.loads(hub.calls("create")[1].body)
    assert sent == {
        "name": "private-one",
        "organization": "me",
        "type": "dataset",
        "visibility": "private",
    }
    assert [s.status for s in hub.calls("create")] == [200, 200, 409]


def test_hub_create_repo_in_a_namespace_the_token_cannot_write_is_refused(hub: FakeHub) -> None:
    with Hub(hub.url, ORG_READER, limits=FAST, clock=NO_WAIT) as session:
        with pytest.raises(Exception) as refused:
            session.create_repo("acme/x", private=False)
        refusal = Hub.refusal(refused.value)
    assert refusal is not None and refusal.status == 403
    assert refusal.reason == "You don't have the rights to create a dataset under this namespace"
    assert ("dataset", "acme/x") not in hub.repos


def test_fake_whoami_answers_like_the_hub(hub: FakeHub) -> None:
    with Hub(hub.url, ORG_WRITER, limits=FAST, clock=NO_WAIT) as session:
        who = session.whoami()
    assert who["name"] == "me" and who["type"] == "user"
    assert who["auth"]["accessToken"]["role"] == "write"
    assert [(o["name"], o["roleInOrg"]) for o in who["orgs"]] == [("acme", "write")]
    with Hub(hub.url, FINE_REPO_ME, limits=FAST, clock=NO_WAIT) as session:
        fine = session.whoami()["auth"]["accessToken"]
    assert fine["role"] == "fineGrained"
    [entry] = fine["fineGrained"]["scoped"]
    assert (entry["entity"]["type"], entry["entity"]["name"]) == ("user", "me")
    assert entry["permissions"] == ["repo.content.read", "repo.write"]
    with (
        Hub(hub.url, UNKNOWN, limits=FAST, clock=NO_WAIT) as session,
        pytest.raises(Exception) as refused,
    ):
        session.whoami()
    refusal = Hub.refusal(refused.value)
    assert refusal is not None and refusal.status == 401


def test_fake_auth_check_hides_private_repos_from_strangers(hub: FakeHub) -> None:
    hub.create_repo("acme/secret", private=True)
    with Hub(hub.url, FINE_REPO_ME, limits=FAST, clock=NO_WAIT) as session:
        with pytest.raises(Exception) as hidden:
            session.can_write("acme/secret")
        assert not session.repo_exists("acme/secret")
    refusal = Hub.refusal(hidden.value)
    assert refusal is not None and refusal.status == 404 and refusal.repo_not_found
    with Hub(hub.url, ORG_WRITER, limits=FAST, clock=NO_WAIT) as session:
        session.can_write("acme/secret")


# --- the command ------------------------------------------------------------------------------


def cli_env(monkeypatch: pytest.MonkeyPatch, router: FakeRouter, hub: FakeHub) -> None:
    from inference_tracker import cli
    from inference_tracker import hub as hub_module
    from inference_tracker.clock import Clock

    monkeypatch.setattr(cli, "CLOCK", Clock(sleep=lambda seconds: None))
    monkeypatch.setattr(hub_module, "DEFAULT_LIMITS", FAST)
    for name, value in {
        "HF_TOKEN": INFERENCE_TOKEN,
        "HF_HUB_TOKEN": HUB_TOKEN,
        "HF_DATASET_REPO_ID": REPO,
        "HF_ENDPOINT": hub.url,
        "MODELS_API_URL": router.listing_url,
    }.items():
        monkeypatch.setenv(name, value)


def test_the_command_exits_0_when_all_pass_and_prints_json_for_scripts(
    router: FakeRouter, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.helpers import run_cli

    cli_env(monkeypatch, router, hub)
    result = run_cli("check")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "All checks passed."
    data = json.loads(run_cli("check", "--json").stdout)
    assert data["ok"] is True
    assert [c["name"] for c in data["checks"]] == [
        "settings", "providers.toml", "storage", "listing", "HF_TOKEN", "dataset",
    ]  # fmt: skip
    assert INFERENCE_TOKEN not in result.stdout and HUB_TOKEN not in result.stdout
    assert list(tmp_path.iterdir()) == []  # wrote nothing


def test_the_command_exits_1_on_a_failed_check_and_2_on_a_configuration_error(
    router: FakeRouter, hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.helpers import run_cli

    cli_env(monkeypatch, router, hub)
    hub.tokens.pop(INFERENCE_TOKEN)  # HF_TOKEN set, but the Hub does not know it
    assert run_cli("check").exit_code == 1
    monkeypatch.delenv("HF_TOKEN")
    assert run_cli("check").exit_code == 2
    (tmp_path / "p.toml").write_text("[route]\nx = '/x'\n")
    monkeypatch.setenv("PROVIDER_ENDPOINT_MAPPING_PATH", str(tmp_path / "p.toml"))
    result = run_cli("check")
    assert result.exit_code == 2
    assert "FAIL  providers.toml:" in result.stdout and "line 1: unknown table [route]" in (
        result.stdout
    )
    monkeypatch.setenv("MODELS_TO_FETCH", "many")
    result = run_cli("check")  # the checklist still says which check failed, as its first line
    assert result.exit_code == 2
    assert result.stdout.startswith("FAIL  settings: invalid setting MODELS_TO_FETCH")
    assert "invalid setting MODELS_TO_FETCH" in result.stderr
    result = run_cli("check", "--json")  # a script reads its answer on stdout too
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    [failed] = data["checks"]
    assert failed["name"] == "settings" and failed["status"] == "FAIL"
    assert "invalid setting MODELS_TO_FETCH" in failed["detail"]


def test_a_misspelt_setting_is_a_warning_of_check_collect_and_status(
    router: FakeRouter, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import run_cli

    cli_env(monkeypatch, router, hub)
    monkeypatch.setenv("HF_DATSET_REPO_ID", "me/typo")
    said = "HF_DATSET_REPO_ID is not a setting; did you mean HF_DATASET_REPO_ID?"
    assert f"warn  settings: {said}" in run_cli("check").stdout
    collect = run_cli("collect", "--dry-run")
    assert any(json.loads(line).get("detail") == said for line in collect.stderr.splitlines()), (
        collect.stderr
    )
    assert said in json.loads(run_cli("status", "--json").stdout)["warnings"]
