"""`tracker check`: will cron work? Each part of the set-up checked in seconds, in order.

settings, providers.toml, storage, listing, HF_TOKEN, dataset. Every check is bounded in time
and writes nothing anywhere (no probe file, no repo, no commit); the Hub checks run through
hub.Hub, one bounded session each, so a dead Hub costs about HUB_TOTAL_SECONDS per check.

What whoami-v2 says about a token, as read here (the Hub's API reference does not document the
`fineGrained` part; huggingface.js types only `auth.accessToken.role`, packages/hub/src/types/
api/api-who-am-i.ts):
- `auth.accessToken.role`: "read", "write" (classic tokens; "admin" on older ones) or
  "fineGrained" (huggingface_hub _login.py reads the role from there);
- `auth.accessToken.fineGrained.global`: permissions not tied to an entity;
  `.scoped`: [{"entity": {"type": "user"|"org"|<repo type>, "name": ...}, "permissions":
  [...]}]; "repo.write" on the user or org entity lets the token create and write repos in
  that namespace (gradio-app/trackio, trackio/server.py, check_hf_token_has_write_access);
- "inference.serverless.write" is "Make calls to Inference Providers" (the Hub's own token
  link https://huggingface.co/settings/tokens/new?ownUserPermissions=inference.serverless.write
  &tokenType=fineGrained in the Inference Providers docs): a user permission, so found in
  `global` or scoped to the user's own entity;
- `name`, and `orgs[].name` with `orgs[].roleInOrg` ("read", "contributor", "write", "admin").
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from inference_tracker import USER_AGENT
from inference_tracker.clock import Clock
from inference_tracker.config import ConfigError, Settings
from inference_tracker.discovery import fetch_models, live_pairs
from inference_tracker.errors import ListingError
from inference_tracker.files import why_unusable
from inference_tracker.logs import EventLog
from inference_tracker.providers import load_provider_map
from inference_tracker.publish import destination_from_settings
from inference_tracker.record import Scrubber

if TYPE_CHECKING:  # hub.py (and huggingface_hub) load only when a Hub check runs
    from inference_tracker.hub import Hub, HubLimits

OK, WARN, FAIL = "ok", "warn", "FAIL"
HUB_TOTAL_SECONDS = 10.0  # each Hub check, retries and pauses included
HUB_REQUEST_SECONDS = 5.0  # connect, and each read, of one Hub request
LISTING_SECONDS = 15.0
TOKENS_PAGE = "https://huggingface.co/settings/tokens"
INFERENCE_PERMISSION = "inference.serverless.write"
INFERENCE_LABEL = "'Make calls to Inference Providers'"
CREATE_PERMISSION = "repo.write"
WRITE_ROLES = ("write", "admin")
CREATE_ORG_ROLES = ("contributor", "write", "admin")


@dataclass(frozen=True)
class CheckResult:
    name: str  # "settings", "providers.toml", "storage", "listing", "HF_TOKEN", "dataset"
    status: str  # "ok", "warn", "FAIL"
    detail: str  # what was found, and for a FAIL what to do, in one line
    config: bool = False  # a FAIL of a configuration check: exit 2


def run_checks(
    settings: Settings,
    *,
    session: requests.Session,
    clock: Clock,
    warnings: Sequence[str] = (),
    dotenv: Path | None = None,
    hub_limits: HubLimits | None = None,
    listing_seconds: float = LISTING_SECONDS,
) -> list[CheckResult]:
    """Every check, in order; never raises for what it checks (a bug still raises). `dotenv`
    is the .env file the settings were read from, if any."""
    if hub_limits is None:
        from inference_tracker.hub import HubLimits

        hub_limits = HubLimits(total_seconds=HUB_TOTAL_SECONDS, request_seconds=HUB_REQUEST_SECONDS)
    source = "the environment" + (f" and {dotenv}" if dotenv is not None else "")
    results = [CheckResult("settings", OK, f"loaded from {source}")]
    results += [CheckResult("settings", WARN, warning) for warning in warnings]
    results.append(_providers(settings))
    results.append(_storage(settings))
    results.append(_listing(settings, session, clock, listing_seconds))
    results.append(_hf_token(settings, hub_limits, clock))
    results.append(_dataset(settings, hub_limits, clock))
    scrub = Scrubber(settings.secrets())
    return [CheckResult(r.name, r.status, _one_line(scrub(r.detail)), r.config) for r in results]


def exit_code(results: list[CheckResult]) -> int:
    """0 when nothing failed, 2 when a configuration check failed, else 1."""
    failed = [r for r in results if r.status == FAIL]
    if any(r.config for r in failed):
        return 2
    return 1 if failed else 0


def render_checks(results: list[CheckResult], *, as_json: bool) -> str:
    """One line per check and a verdict; or one JSON object on one line."""
    failed = sum(1 for r in results if r.status == FAIL)
    if as_json:
        checks = [{"name": r.name, "status": r.status, "detail": r.detail} for r in results]
        return json.dumps({"ok": failed == 0, "checks": checks}, ensure_ascii=False)
    lines = [f"{r.status:<5} {r.name}: {r.detail}" for r in results]
    warned = sum(1 for r in results if r.status == WARN)
    if failed == 0 and warned:
        lines.append(f"All checks passed, with {warned} warning{'s' if warned > 1 else ''}.")
    elif failed == 0:
        lines.append("All checks passed.")
    else:
        lines.append(f"{failed} check{'s' if failed > 1 else ''} failed.")
    return "\n".join(lines)


# --- local checks ----------------------------------------------------------------------------


def _providers(settings: Settings) -> CheckResult:
    try:
        routes = load_provider_map(settings.provider_endpoint_mapping_path)
    except ConfigError as exc:
        return CheckResult("providers.toml", FAIL, str(exc), config=True)
    return CheckResult("providers.toml", OK, f"{len(routes.routes)} routes from {routes.source}")


def _storage(settings: Settings) -> CheckResult:
    """The buffer's folder and STATE_DIR take files (or can be made), the buffer and state.json
    are files where they exist, and PROMETHEUS_TEXTFILE's folder exists and takes files; seen
    from outside only, nothing written."""
    buffer, state_dir = settings.local_csv_path, settings.state_folder
    problems = []
    for label, folder in (("LOCAL_CSV_PATH's folder", buffer.parent), ("STATE_DIR", state_dir)):
        why = why_unusable(folder)
        if why is not None:
            problems.append(f"{label} {folder}: {why}")
    for path in (buffer, state_dir / "state.json"):
        if path.exists() and not path.is_file():
            problems.append(f"{path} is a folder, not a file")
    textfile = settings.prometheus_textfile
    if textfile is not None:
        problems += _textfile_problems(textfile)
    if problems:
        return CheckResult("storage", FAIL, "; ".join(dict.fromkeys(problems)))
    detail = f"buffer {buffer} and STATE_DIR {state_dir} can be written"
    if not (buffer.parent.is_dir() and state_dir.is_dir()):
        detail += " (missing folders will be created)"
    if textfile is not None:
        detail += f"; so can PROMETHEUS_TEXTFILE {textfile}"
    return CheckResult("storage", OK, detail)


def _textfile_problems(textfile: Path) -> list[str]:
    """collect never creates the textfile's folder: node_exporter reads only the folder it was
    told, so a missing one is most likely a typo."""
    if textfile.is_dir():
        return [f"PROMETHEUS_TEXTFILE {textfile} is a folder, not a file"]
    folder = textfile.parent
    why = why_unusable(folder)  # a file or a broken link in the way, no write access, no space
    if why is None and not folder.is_dir():
        why = (
            f"the folder {folder} does not exist (collect does not create it: use the folder"
            " node_exporter's --collector.textfile.directory names)"
        )
    return [f"PROMETHEUS_TEXTFILE {textfile}: {why}"] if why is not None else []


# --- the listing -----------------------------------------------------------------------------


def _listing(
    settings: Settings, session: requests.Session, clock: Clock, seconds: float
) -> CheckResult:
    url = settings.models_api_url
    try:
        models = fetch_models(
            session,
            url,
            settings.models_to_fetch,
            USER_AGENT,
            deadline=clock.monotonic() + seconds,
            clock=clock,
        )
    except ListingError as exc:
        return CheckResult("listing", FAIL, str(exc))
    quiet = EventLog(io.StringIO(), "error", as_json=True)
    pairs = live_pairs(models, settings.models_to_fetch, quiet)
    found = f"{min(len(models), settings.models_to_fetch)} models, {len(pairs)} live pairs"
    if not pairs:
        return CheckResult(
            "listing",
            FAIL,
            f"{found} from {url}: collect would measure nothing: check MODELS_API_URL",
        )
    return CheckResult("listing", OK, f"{found} from {url}")


# --- the Hub ---------------------------------------------------------------------------------


def _hf_token(settings: Settings, limits: HubLimits, clock: Clock) -> CheckResult:
    """HF_TOKEN is set, valid, and (fine-grained) may call Inference Providers."""
    if settings.hf_token is None:
        return CheckResult(
            "HF_TOKEN",
            FAIL,
            f"not set: set HF_TOKEN to a token with the {INFERENCE_LABEL} permission,"
            f" from {TOKENS_PAGE}",
            config=True,  # as collect says it: exit 2
        )
    token = settings.hf_token.get_secret_value()
    outcome = _on_hub(settings.hf_endpoint, token, limits, clock, lambda hub: hub.whoami())
    if isinstance(outcome, CheckResult):
        return _named(outcome, "HF_TOKEN")
    return _judge_inference(outcome, settings.hf_bill_to)


def _judge_inference(who: dict[str, Any], bill_to: str) -> CheckResult:
    name, role, access = _identity(who)
    if role == "fineGrained":
        entities = {name, bill_to} - {""}
        if INFERENCE_PERMISSION not in _fine_grained(access, entities):
            return CheckResult(
                "HF_TOKEN",
                FAIL,
                f"user {name}'s fine-grained token may not call Inference Providers: edit it at"
                f" {TOKENS_PAGE} and tick {INFERENCE_LABEL} ({INFERENCE_PERMISSION})",
            )
        return CheckResult("HF_TOKEN", OK, f"valid, user {name} (fine-grained token)")
    return CheckResult("HF_TOKEN", OK, f"valid, user {name}" + (f" ({role} token)" if role else ""))


def _dataset(settings: Settings, limits: HubLimits, clock: Clock) -> CheckResult:
    """HF_HUB_TOKEN can write the dataset, or create it at the first push."""
    if settings.hf_hub_token is None and not settings.hf_dataset_repo_id:
        return CheckResult(
            "dataset",
            WARN,
            "push not configured (HF_HUB_TOKEN and HF_DATASET_REPO_ID unset): collect exits 3"
            " at every push boundary unless run with --no-push",
        )
    try:
        destination = destination_from_settings(settings)  # as push reads them
    except ConfigError as exc:  # one of the two is set: it names the other
        return CheckResult("dataset", FAIL, str(exc), config=True)
    repo, token = destination.repo_id, destination.token  # HF_HUB_TOKEN, never HF_TOKEN

    def look(hub: Hub) -> CheckResult | dict[str, Any]:
        if not hub.repo_exists(repo):
            return hub.whoami()
        try:
            hub.can_write(repo)
        except Exception as exc:
            refusal = hub.refusal(exc)
            if refusal is None or refusal.status not in (401, 403, 404):
                raise
            namespace = repo.split("/")[0]
            return CheckResult(
                "dataset",
                FAIL,
                f"{repo} exists but HF_HUB_TOKEN cannot write to it ({refusal.status}"
                f" {refusal.reason}): set HF_HUB_TOKEN to a write token from {TOKENS_PAGE}"
                f" (fine-grained: with '{CREATE_PERMISSION}' on {namespace})",
            )
        return CheckResult("dataset", OK, f"{repo} exists and HF_HUB_TOKEN can write to it")

    outcome = _on_hub(settings.hf_endpoint, token, limits, clock, look, "HF_HUB_TOKEN")
    if isinstance(outcome, CheckResult):
        return _named(outcome, "dataset")
    private = settings.hf_dataset_private
    return _judge_create(outcome, repo, private)


def _judge_create(who: dict[str, Any], repo: str, private: bool) -> CheckResult:
    """Whether the first push may create `repo`, from what whoami says of HF_HUB_TOKEN."""
    namespace = repo.split("/")[0]
    name, role, access = _identity(who)
    missing = f"{repo} does not exist"
    will_create = f"{missing} yet: the first push creates it ({'private' if private else 'public'})"
    if role == "fineGrained":
        if CREATE_PERMISSION in _fine_grained(access, {namespace}, scoped_only=True):
            return CheckResult("dataset", OK, will_create)
        return CheckResult(
            "dataset",
            FAIL,
            f"{missing}, and HF_HUB_TOKEN (fine-grained, user {name}) may not create repos under"
            f" {namespace}: give it '{CREATE_PERMISSION}' on {namespace} at {TOKENS_PAGE},"
            " or create the dataset yourself",
        )
    if role is None:
        return CheckResult(
            "dataset",
            WARN,
            f"{missing} yet, and whoami does not say whether HF_HUB_TOKEN may create it;"
            " the first push will try",
        )
    if role not in WRITE_ROLES:
        return CheckResult(
            "dataset",
            FAIL,
            f"{missing}, and HF_HUB_TOKEN is a {role} token: set it to a write token from"
            f" {TOKENS_PAGE}, or create the dataset yourself",
        )
    if namespace == name:
        return CheckResult("dataset", OK, will_create)
    org_roles = _org_roles(who)
    if namespace not in org_roles:
        return CheckResult(
            "dataset",
            FAIL,
            f"{missing}, and HF_HUB_TOKEN (user {name}) cannot create repos under {namespace}:"
            " it is neither the user nor one of their orgs; check HF_DATASET_REPO_ID",
        )
    org_role = org_roles[namespace]
    if org_role is not None and org_role not in CREATE_ORG_ROLES:
        return CheckResult(
            "dataset",
            FAIL,
            f"{missing}, and user {name} is only a '{org_role}' member of {namespace}: ask an"
            " admin of the org for write access, or to create the dataset",
        )
    return CheckResult("dataset", OK, will_create)


def _on_hub(
    endpoint: str,
    token: str,
    limits: HubLimits,
    clock: Clock,
    action: Callable[[Hub], Any],
    token_name: str = "HF_TOKEN",  # noqa: S107 (the setting's name, not a token)
) -> Any:
    """`action` in its own bounded Hub session; a known failure becomes a FAIL result."""
    from inference_tracker.hub import (
        Hub,
        HubBusy,
        HubDropped,
        HubFailure,
        HubTimeout,
        HubUnreachable,
    )

    hub = Hub(endpoint, token, limits=limits, clock=clock)
    try:
        with hub:
            return action(hub)
    except Exception as exc:
        refusal = Hub.refusal(exc)
        if isinstance(exc, HubUnreachable | HubTimeout):
            detail = f"Hub unreachable at {endpoint}: {exc}"
        elif isinstance(exc, HubDropped):
            detail = f"Hub connection failed at {endpoint}: {exc}"
        elif isinstance(exc, HubBusy):
            verb = "failed" if exc.status >= 500 else "busy"
            detail = f"Hub {verb} at {endpoint}: {exc}"
        elif refusal is not None and refusal.status == 401:
            detail = (
                f"{token_name} is not a valid token (the Hub at {endpoint} answered 401"
                f" {refusal.reason}): create a new one at {TOKENS_PAGE}"
            )
        elif refusal is not None:
            verb = "failed" if refusal.status >= 500 else "refused"
            detail = f"Hub {verb} at {endpoint}: {refusal.status} {refusal.reason}".rstrip()
        elif isinstance(exc, HubFailure):
            detail = str(exc)
        elif isinstance(exc, ValueError | KeyError | TypeError):  # an answer we cannot read
            detail = f"Hub answer not understood at {endpoint}: {type(exc).__name__}: {exc}"
        else:
            raise
        return CheckResult("", FAIL, detail)


# --- reading whoami --------------------------------------------------------------------------


def _identity(who: Any) -> tuple[str, str | None, dict[str, Any]]:
    """The account name, the token's role (None when whoami names none) and accessToken."""
    who = who if isinstance(who, dict) else {}
    name = who.get("name")
    auth = who.get("auth")
    access = auth.get("accessToken") if isinstance(auth, dict) else None
    access = access if isinstance(access, dict) else {}
    role = access.get("role")
    return (
        name if isinstance(name, str) else "?",
        role if isinstance(role, str) else None,
        access,
    )


def _fine_grained(
    access: dict[str, Any], entities: set[str], *, scoped_only: bool = False
) -> set[str]:
    """A fine-grained token's permissions: the global ones (unless `scoped_only`) and those
    scoped to any of `entities` (user or org names)."""
    fine = access.get("fineGrained")
    if not isinstance(fine, dict):
        return set()
    found: set[str] = set()
    if not scoped_only:
        found.update(p for p in _list(fine.get("global")) if isinstance(p, str))
    for item in _list(fine.get("scoped")):
        if not isinstance(item, dict):
            continue
        entity = item.get("entity")
        if not isinstance(entity, dict) or entity.get("type") not in ("user", "org"):
            continue
        if entity.get("name") in entities:
            found.update(p for p in _list(item.get("permissions")) if isinstance(p, str))
    return found


def _org_roles(who: dict[str, Any]) -> dict[str, str | None]:
    roles: dict[str, str | None] = {}
    for org in _list(who.get("orgs")):
        if isinstance(org, dict) and isinstance(org.get("name"), str):
            role = org.get("roleInOrg")
            roles[org["name"]] = role if isinstance(role, str) else None
    return roles


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _named(result: CheckResult, name: str) -> CheckResult:
    return CheckResult(name, result.status, result.detail, result.config)


def _one_line(text: str) -> str:
    return " ".join(text.split())
