"""A fake Hugging Face Hub on 127.0.0.1, spoken to by the real huggingface_hub client.

It implements the few endpoints an upload or a download uses, the way the Hub answers them
(checked against huggingface_hub 2.4's hf_api.py, _commit_api.py, file_download.py and
utils/_http.py):

- POST /api/{type}s/{repo}/preupload/{rev}: upload mode per file, plus the git blob oid of the
  file already there (an equal oid makes the client drop the file from the commit).
- POST /api/{type}s/{repo}/commit/{rev}: NDJSON (header, file, deletedFile, deletedFolder);
  `parentCommit` that is not the branch head is a 412, as on the Hub.
- HEAD/GET /[{type}s/]{repo}/resolve/{rev}/{path}: X-Repo-Commit, ETag, Content-Length, Range;
  404 with X-Error-Code EntryNotFound / RevisionNotFound / RepoNotFound.
- GET /api/{type}s/{repo}[/revision/{rev}]: repo info (sha, siblings).
- GET /api/{type}s/{repo}/tree/{rev}[/{path}]: the file listing.
- POST /api/{type}s/{repo}/paths-info/{rev}, POST /api/validate-yaml.
- POST /api/repos/create: what HfApi.create_repo sends ({name, organization, type,
  visibility}); 409 when the repo exists (the client's exist_ok takes it), 403 when the token
  may not create repos under that namespace.
- GET /api/whoami-v2: the account behind a token, its orgs, and the token's role and
  fine-grained permissions (`users`, built with `whoami_body` and `scope`); 401 for an unknown
  token.
- GET /api/{type}s/{repo}/auth-check[/write]: 200 when the token may read (write) the repo,
  403 when it may read but not write, 404 RepoNotFound when the repo does not exist or is
  private and the token cannot see it.

Repos live in memory with their whole commit history. Faults can be injected per endpoint: a
status code with the Hub's own kind of body, "hang" (never answer), "reset" (close the
connection), N times then behave; a commit fault can also be applied first ("the commit landed
but the answer was lost"). Every request is recorded, with the bearer token it carried.

In a test:   with FakeHub(tokens={TOKEN: "write"}) as hub: hub.create_repo("me/x"); ... hub.url
Standalone:  python -m tests.fakes.hub --port 0 --repo me/x --token hf_...   (prints the URL)
             then GET {url}/_fake/state, POST {url}/_fake/fault {"endpoint": "commit", ...}
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.server import FakeServer

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
ENDPOINTS = (
    "preupload",
    "commit",
    "resolve",
    "info",
    "tree",
    "paths-info",
    "validate-yaml",
    "create",
    "whoami",
    "auth-check",
)
LFS_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = (
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.arrow filter=lfs diff=lfs merge=lfs -text\n"
)

DEFAULT_USER = "me"  # the account behind a token that `users` does not describe
WRITE_ROLES = ("write", "admin")  # classic token roles (and org roles) that write repos
CREATE_ORG_ROLES = ("write", "admin", "contributor")  # org roles that may create repos

# The Hub's own words for each failure (bodies as JSON {"error": ...} plus X-Error-Message).
MESSAGES = {
    401: "Invalid credentials in Authorization header",
    403: "You don't have the rights to create a commit in this repository",
    404: "Repository not found",
    409: "A conflicting operation is in progress",
    412: "A commit has happened since. Please refresh and try again.",
    429: "You have exceeded our hourly quotas for action: commit. We invite you to retry later.",
    500: "Internal Error - We're working hard to fix this as soon as possible!",
    503: "Service Unavailable",
}
CDN_PAGE = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD><TITLE>'
    "ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>{status} ERROR</H1>"
    "<H2>The request could not be satisfied.</H2></BODY></HTML>"
)


def git_blob_oid(data: bytes) -> str:
    """What `git hash-object` says: the oid the Hub reports for a regular file."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _oid(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:24]


def scope(entity: str, *permissions: str, kind: str = "user") -> dict[str, Any]:
    """One entry of a fine-grained token's `scoped` list: permissions on a user, an org or a
    repo (kind "model"/"dataset"/"space", entity "owner/name")."""
    return {
        "entity": {"_id": _oid(f"{kind}:{entity}"), "type": kind, "name": entity},
        "permissions": list(permissions),
    }


def whoami_body(
    name: str = DEFAULT_USER,
    role: str = "write",
    *,
    orgs: dict[str, str] | None = None,
    global_permissions: list[str] | None = None,
    scoped: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What GET /api/whoami-v2 answers for a user's access token. `role` is the token's:
    "read", "write" or "fineGrained" (then `global_permissions` and `scoped` say what it may
    do); `orgs` maps each org the user belongs to to the user's role in it."""
    access: dict[str, Any] = {
        "displayName": "inference-tracker",
        "role": role,
        "createdAt": "2025-01-01T00:00:00.000Z",
    }
    if role == "fineGrained":
        access["fineGrained"] = {
            "canReadGatedRepos": False,
            "global": list(global_permissions or []),
            "scoped": list(scoped or []),
        }
    return {
        "type": "user",
        "id": _oid(f"user:{name}"),
        "name": name,
        "fullname": name.title(),
        "email": f"{name}@example.com",
        "emailVerified": True,
        "canPay": False,
        "isPro": False,
        "periodEnd": None,
        "avatarUrl": f"/avatars/{_oid(name)}.svg",
        "orgs": [
            {
                "type": "org",
                "id": _oid(f"org:{org}"),
                "name": org,
                "fullname": org.title(),
                "email": None,
                "canPay": False,
                "periodEnd": None,
                "avatarUrl": f"/avatars/{_oid(org)}.svg",
                "roleInOrg": org_role,
            }
            for org, org_role in (orgs or {}).items()
        ],
        "auth": {"type": "access_token", "accessToken": access},
    }


def _permissions_on(body: dict[str, Any], namespace: str, repo_id: str | None) -> set[str]:
    """A fine-grained token's permissions on a namespace (and on one repo in it)."""
    fine = body["auth"]["accessToken"].get("fineGrained") or {}
    found: set[str] = set()
    for item in fine.get("scoped", []):
        entity = item["entity"]
        if (entity["type"] in ("user", "org") and entity["name"] == namespace) or (
            repo_id is not None and entity["name"] == repo_id
        ):
            found.update(item["permissions"])
    return found


def _classic_write(body: dict[str, Any]) -> bool:
    """What the token may do on the commit endpoints, which know only "write" or "read"."""
    access = body["auth"]["accessToken"]
    if access["role"] == "fineGrained":
        scoped = access["fineGrained"].get("scoped", [])
        return any("repo.write" in item["permissions"] for item in scoped)
    return access["role"] in WRITE_ROLES


@dataclass
class Commit:
    oid: str
    parent: str | None
    summary: str
    description: str
    files: dict[str, bytes]
    at: float


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)

    def resolve(self, revision: str) -> Commit | None:
        """A branch name, a full commit oid or a prefix of at least 7 characters."""
        if revision in self.refs:
            return self.commits[self.refs[revision]]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = [c for oid, c in self.commits.items() if oid.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None

    def history(self, branch: str = "main") -> list[Commit]:
        """Newest first, following parents from the branch head."""
        out: list[Commit] = []
        oid: str | None = self.refs.get(branch)
        while oid is not None:
            commit = self.commits[oid]
            out.append(commit)
            oid = commit.parent
        return out


@dataclass
class Fault:
    endpoint: str  # one of ENDPOINTS, or "*"
    action: int | str  # an HTTP status, "hang" or "reset"
    times: int | None = 1  # None: every time
    apply: bool = False  # commit: apply it, then answer with the fault
    body: Any = None  # replaces the default body of a status fault
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    endpoint: str
    token: str | None
    headers: dict[str, str]
    body: bytes
    status: int = 0  # 0 when no answer was sent (hang, reset)


class FakeHub:
    def __init__(
        self,
        *,
        tokens: dict[str, str] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_limit: float = 30.0,
    ) -> None:
        """`tokens` maps a bearer token to "write" or "read"; None accepts any token as write.

        `users` maps a bearer token to its whoami-v2 answer (`whoami_body`): that token then
        sees, writes and creates repos by its account, orgs and permissions, as on the Hub.
        Its tokens join `tokens` (as "write" when they may write repos at all); with `users`
        and no `tokens`, only those tokens are known. A token that `tokens` knows and `users`
        does not is user "me", with the role `tokens` gives it."""
        if users is not None:
            tokens = dict(tokens or {})
            for token, body in users.items():
                tokens.setdefault(token, "write" if _classic_write(body) else "read")
        self.tokens = tokens
        self.users = dict(users or {})
        self.repos: dict[tuple[str, str], Repo] = {}
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.hang_limit = hang_limit
        self._before: dict[str, list[Callable[[], object]]] = {}
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._counter = 0
        self._server = FakeServer((host, port), _Handler)
        self.hangups = self._server.hangups
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # hung handlers give up
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- arranging -------------------------------------------------------------------------

    def create_repo(
        self,
        repo_id: str,
        repo_type: str = "dataset",
        *,
        files: dict[str, bytes] | None = None,
        private: bool = False,
    ) -> Repo:
        """A new repo with one commit holding .gitattributes (as the Hub makes it) and `files`."""
        with self._lock:
            repo = Repo(repo_type, repo_id, private=private)
            self.repos[(repo_type, repo_id)] = repo
            self._commit(repo, {".gitattributes": GITATTRIBUTES, **(files or {})}, "initial commit")
            return repo

    def commit_files(
        self,
        repo_id: str,
        files: dict[str, bytes | None],
        summary: str = "another writer",
        repo_type: str = "dataset",
    ) -> str:
        """A commit by someone else (None deletes a file). Returns the new head oid."""
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            head = repo.resolve("main")
            current = dict(head.files) if head else {}
            for path, data in files.items():
                if data is None:
                    current.pop(path, None)
                else:
                    current[path] = data
            return self._commit(repo, current, summary).oid

    def fail(
        self,
        endpoint: str,
        status: int = 500,
        *,
        times: int | None = 1,
        apply: bool = False,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer `endpoint` with `status` the next `times` times (None: always)."""
        return self._add(Fault(endpoint, status, times, apply, body, dict(headers or {})))

    def hang(self, endpoint: str, *, times: int | None = None, apply: bool = False) -> Fault:
        """Read the request (and with `apply`, carry it out), then never answer (until the hub
        stops or `hang_limit`)."""
        return self._add(Fault(endpoint, "hang", times, apply))

    def reset(self, endpoint: str, *, times: int | None = 1) -> Fault:
        """Close the connection without an answer."""
        return self._add(Fault(endpoint, "reset", times))

    def before(self, endpoint: str, action: Callable[[], object]) -> None:
        """Run `action` once, just before the next `endpoint` request is handled."""
        with self._lock:
            self._before.setdefault(endpoint, []).append(action)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _add(self, fault: Fault) -> Fault:
        if fault.endpoint != "*" and fault.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {fault.endpoint!r}; one of {ENDPOINTS}")
        with self._lock:
            self.faults.append(fault)
        return fault

    # --- looking ---------------------------------------------------------------------------

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def whoami_for(self, token: str | None) -> dict[str, Any] | None:
        """The whoami-v2 answer for `token`; None for no token or one the Hub does not know."""
        if token is None:
            return None
        if token in self.users:
            return self.users[token]
        if self.tokens is None:
            return whoami_body()
        if token in self.tokens:
            return whoami_body(role=self.tokens[token])
        return None

    def files(
        self, repo_id: str, repo_type: str = "dataset", revision: str = "main"
    ) -> dict[str, bytes]:
        commit = self.repo(repo_id, repo_type).resolve(revision)
        return dict(commit.files) if commit else {}

    def file(self, repo_id: str, path: str, repo_type: str = "dataset") -> bytes | None:
        return self.files(repo_id, repo_type).get(path)

    def history(self, repo_id: str, repo_type: str = "dataset") -> list[Commit]:
        return self.repo(repo_id, repo_type).history()

    def calls(self, endpoint: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if endpoint is None or s.endpoint == endpoint]

    @property
    def tokens_seen(self) -> set[str]:
        with self._lock:
            return {s.token for s in self.requests if s.token is not None}

    # --- internals -------------------------------------------------------------------------

    def _commit(
        self, repo: Repo, files: dict[str, bytes], summary: str, description: str = ""
    ) -> Commit:
        self._counter += 1
        parent = repo.refs.get("main")
        listing = "\n".join(f"{p} {git_blob_oid(d)}" for p, d in sorted(files.items()))
        oid = hashlib.sha1(
            f"{parent}\n{summary}\n{listing}\n{self._counter}".encode(), usedforsecurity=False
        ).hexdigest()
        commit = Commit(oid, parent, summary, description, dict(files), time.time())
        repo.commits[oid] = commit
        repo.refs["main"] = oid
        return commit

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.endpoint in (endpoint, "*"):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def _run_before(self, endpoint: str) -> None:
        with self._lock:
            actions = self._before.pop(endpoint, [])
        for action in actions:
            action()


# --- HTTP ------------------------------------------------------------------------------------


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    length: int | None = None  # Content-Length when it differs from len(body) (HEAD)


def _json(data: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json.dumps(data).encode(), dict(headers))


_API = re.compile(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    timeout = 30  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stalls

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # one request

    def _serve(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        path, query = unquote(split.path), parse_qs(split.query)
        endpoint = _endpoint_of(self.command, split.path)
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else None
        seen = Seen(self.command, self.path, endpoint, token, dict(self.headers.items()), body)
        with self.hub._lock:
            self.hub.requests.append(seen)

        if endpoint == "control":
            answer = self._control(path, body)
        else:
            self.hub._run_before(endpoint)
            fault = self.hub._take_fault(endpoint)
            if fault is not None and fault.action == "hang":
                if fault.apply:  # the Hub did the work; its answer never comes
                    self._route(endpoint, path, query, body, token)
                self.hub._release.wait(self.hub.hang_limit)
                self.close_connection = True
                return
            if fault is not None and fault.action == "reset":
                self.close_connection = True
                return
            try:
                if fault is not None and fault.apply:
                    self._route(endpoint, path, query, body, token)
                if fault is not None:
                    assert isinstance(fault.action, int)
                    answer = _fault_answer(fault)
                else:
                    answer = self._route(endpoint, path, query, body, token)
            except HubError as exc:
                answer = _error(exc.status, exc.message, exc.code)
            except Exception as exc:  # a bug in the fake: say so, as a 500
                answer = _error(500, f"fake hub bug: {type(exc).__name__}: {exc}")
        seen.status = answer.status
        self._send(answer)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        headers = {"X-Request-Id": f"Root=1-{uuid.uuid4().hex[:24]}", **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Type" not in headers:
            self.send_header("Content-Type", answer.content_type)
        length = answer.length if answer.length is not None else len(answer.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    # routing

    def _route(
        self, endpoint: str, path: str, query: dict[str, list[str]], body: bytes, token: str | None
    ) -> Answer:
        if endpoint == "whoami":
            who = self.hub.whoami_for(token)
            if who is None:
                raise HubError(401, MESSAGES[401])
            return _json(who)
        if endpoint == "validate-yaml":
            self._auth(token, write=False, repo=None)
            return _validate_yaml(body)
        if endpoint == "create":
            return self._create(token, body)
        if endpoint == "resolve":
            match = _RESOLVE.match(path)
            assert match
            kind, ns, name, rev, file_path = match.groups()
            repo = self._repo(REPO_TYPES[kind or "models"], f"{ns}/{name}", token, write=False)
            return _resolve(
                repo, rev, file_path, self.headers.get("Range"), head=self.command == "HEAD"
            )
        match = _API.match(path)
        if match is None:
            raise HubError(404, "Not Found")
        kind, ns, name, rest = match.groups()
        if endpoint == "auth-check":
            return self._auth_check(REPO_TYPES[kind], f"{ns}/{name}", rest or "", token)
        write = endpoint in ("preupload", "commit")
        repo = self._repo(REPO_TYPES[kind], f"{ns}/{name}", token, write=write)
        rest = rest or ""
        if endpoint == "info":
            rev = rest.split("/", 1)[1] if rest.startswith("revision/") else "main"
            info = _info(repo, _commit_at(repo, rev))
            if "expand" in query:  # only the properties asked for, as the Hub does
                info = {k: v for k, v in info.items() if k in ("_id", "id", *query["expand"])}
            return _json(info)
        _, _, tail = rest.partition("/")
        rev, _, sub = tail.partition("/")
        commit = _commit_at(repo, rev)
        if endpoint == "preupload":
            return _preupload(commit, body)
        if endpoint == "commit":
            if "create_pr" in query:
                raise HubError(400, "the fake hub does not do pull requests")
            return self._apply_commit(repo, commit, body)
        if endpoint == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            return _json(_tree(commit, sub.strip("/"), recursive))
        if endpoint == "paths-info":
            return _json(_paths_info(commit, body, self.headers.get("Content-Type", "")))
        raise HubError(404, "Not Found")

    def _auth(self, token: str | None, *, write: bool, repo: Repo | None) -> None:
        tokens = self.hub.tokens
        if token is not None and tokens is not None and token not in tokens:
            raise HubError(401, MESSAGES[401])
        if write and token is None:
            raise HubError(401, "You must be authenticated to access this resource", "RepoNotFound")
        if repo is not None and repo.private and token is None:
            raise HubError(401, "Repository not found", "RepoNotFound")
        if write and tokens is not None and token is not None and tokens[token] != "write":
            raise HubError(403, MESSAGES[403])

    def _repo(self, repo_type: str, repo_id: str, token: str | None, *, write: bool) -> Repo:
        repo = self.hub.repos.get((repo_type, repo_id))
        self._auth(token, write=write, repo=repo)
        if repo is None or not self._may_see(token, repo):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    # what a token may do, by its account (for tokens `users` describes; others as `tokens`)

    def _may_see(self, token: str | None, repo: Repo) -> bool:
        who = self.hub.users.get(token) if token is not None else None
        if not repo.private or who is None:
            return True  # a private repo and no token was refused by _auth already
        namespace = repo.repo_id.split("/")[0]
        if who["auth"]["accessToken"]["role"] == "fineGrained":
            return bool(_permissions_on(who, namespace, repo.repo_id))
        return namespace == who["name"] or namespace in {o["name"] for o in who["orgs"]}

    def _may_write(self, token: str | None, repo_id: str) -> bool:
        if token is None:
            return False
        who = self.hub.users.get(token)
        if who is None:
            return self.hub.tokens is None or self.hub.tokens.get(token) == "write"
        namespace = repo_id.split("/")[0]
        access = who["auth"]["accessToken"]
        if access["role"] == "fineGrained":
            granted = _permissions_on(who, namespace, repo_id)
            return bool(granted & {"repo.write", "repo.content.write"})
        if access["role"] not in WRITE_ROLES:
            return False
        org_roles = {o["name"]: o.get("roleInOrg") for o in who["orgs"]}
        return namespace == who["name"] or org_roles.get(namespace) in WRITE_ROLES

    def _may_create(self, token: str, namespace: str) -> bool:
        who = self.hub.users.get(token)
        if who is None:
            return self.hub.tokens is None or self.hub.tokens.get(token) == "write"
        access = who["auth"]["accessToken"]
        if access["role"] == "fineGrained":
            return "repo.write" in _permissions_on(who, namespace, None)
        if access["role"] not in WRITE_ROLES:
            return False
        org_roles = {o["name"]: o.get("roleInOrg") for o in who["orgs"]}
        return namespace == who["name"] or org_roles.get(namespace) in CREATE_ORG_ROLES

    def _auth_check(self, repo_type: str, repo_id: str, rest: str, token: str | None) -> Answer:
        """GET .../auth-check[/write]: the Hub's repo guard and nothing else (200 "OK")."""
        if rest.rstrip("/") not in ("auth-check", "auth-check/write"):
            raise HubError(404, "Not Found")
        write = rest.rstrip("/").endswith("/write")
        self._repo(repo_type, repo_id, token, write=False)
        if write and token is None:
            raise HubError(401, "You must be authenticated to access this resource")
        if write and not self._may_write(token, repo_id):
            raise HubError(403, "You don't have write access to this repository")
        return Answer(200, b"OK", content_type="text/plain; charset=utf-8")

    def _create(self, token: str | None, body: bytes) -> Answer:
        """What HfApi.create_repo sends: {name, organization, type, visibility} ("private":
        bool from older clients)."""
        self._auth(token, write=False, repo=None)
        if token is None:
            raise HubError(401, "You must be authenticated to access this resource")
        data = json.loads(body or b"{}")
        who = self.hub.whoami_for(token) or whoami_body()
        name, org = data.get("name"), data.get("organization") or who["name"]
        repo_type = data.get("type") or "model"
        repo_id = f"{org}/{name}"
        private = data.get("visibility", "private" if data.get("private") else "public")
        with self.hub._lock:
            if not self._may_create(token, org):
                raise HubError(
                    403, f"You don't have the rights to create a {repo_type} under this namespace"
                )
            url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
            if (repo_type, repo_id) in self.hub.repos:
                # The conflict names the repo too: the client's exist_ok reads its "url".
                message = f"You already created this {repo_type} repo"
                return _json({"error": message, "url": url}, 409, **{"X-Error-Message": message})
            self.hub.create_repo(repo_id, repo_type, private=private == "private")
        return _json({"url": url, "name": repo_id, "id": _oid(f"{repo_type}:{repo_id}")})

    def _apply_commit(self, repo: Repo, base: Commit, body: bytes) -> Answer:
        if "application/x-ndjson" not in self.headers.get("Content-Type", ""):
            raise HubError(400, "commit payload must be application/x-ndjson")
        try:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError as exc:
            raise HubError(400, f"Invalid NDJSON: {exc}") from None
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line must be the commit header")
        header = lines[0]["value"]
        summary = header.get("summary") or ""
        if not summary:
            raise HubError(400, "Commit summary is required")
        with self.hub._lock:
            head = repo.resolve("main")
            assert head is not None
            parent = header.get("parentCommit")
            if parent is not None and not head.oid.startswith(parent):
                raise HubError(412, MESSAGES[412])
            if base.oid != head.oid:
                raise HubError(400, "commits can only be made on top of a branch")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value") or {}
                file_path = value.get("path", "")
                if not file_path or file_path.startswith("/") or ".." in file_path.split("/"):
                    raise HubError(400, f"Invalid path {file_path!r}")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "file content must be base64")
                    files[file_path] = base64.b64decode(value.get("content", ""))
                elif key == "deletedFile":
                    if file_path not in files:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                    del files[file_path]
                elif key == "deletedFolder":
                    prefix = file_path.rstrip("/") + "/"
                    files = {p: d for p, d in files.items() if not p.startswith(prefix)}
                elif key == "lfsFile":
                    raise HubError(422, "the fake hub stores no LFS objects")
                else:
                    raise HubError(400, f"Unknown operation {key!r}")
            commit = self.hub._commit(repo, files, summary, header.get("description") or "")
        url = f"{self.hub.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}/commit/{commit.oid}"
        return _json({"success": True, "commitOid": commit.oid, "commitUrl": url, "hookOutput": ""})

    def _control(self, path: str, body: bytes) -> Answer:
        hub = self.hub
        if path == "/_fake/state":
            with hub._lock:
                repos = {
                    f"{r.repo_type}/{r.repo_id}": {
                        "head": r.refs.get("main"),
                        "files": {
                            p: base64.b64encode(d).decode()
                            for p, d in hub.files(r.repo_id, r.repo_type).items()
                        },
                        "history": [
                            {"oid": c.oid, "summary": c.summary, "parent": c.parent}
                            for c in r.history()
                        ],
                    }
                    for r in hub.repos.values()
                }
                requests = [
                    {"method": s.method, "path": s.path, "endpoint": s.endpoint, "status": s.status}
                    for s in hub.requests
                    if s.endpoint != "control"
                ]
                tokens = sorted(hub.tokens_seen)
            return _json({"repos": repos, "requests": requests, "tokens_seen": tokens})
        if path == "/_fake/fault":
            data = json.loads(body or b"{}")
            action = data.get("action", data.get("status", 500))
            hub._add(
                Fault(
                    data["endpoint"],
                    action,
                    data.get("times", 1),
                    bool(data.get("apply")),
                    data.get("body"),
                )
            )
            return _json({"ok": True})
        if path == "/_fake/clear-faults":
            hub.clear_faults()
            return _json({"ok": True})
        raise HubError(404, "Not Found")


def _endpoint_of(method: str, raw_path: str) -> str:
    path = unquote(raw_path.split("?", 1)[0])
    if path.startswith("/_fake/"):
        return "control"
    if path == "/api/validate-yaml":
        return "validate-yaml"
    if path == "/api/repos/create":
        return "create"
    if path == "/api/whoami-v2":
        return "whoami"
    if _RESOLVE.match(path) and method in ("GET", "HEAD"):
        return "resolve"
    match = _API.match(path)
    if match:
        rest = match.group(4) or ""
        action = rest.split("/", 1)[0]
        if method == "GET" and (not rest or action == "revision"):
            return "info"
        if action in ("preupload", "commit", "tree", "paths-info", "auth-check"):
            return action
    return "other"


def _error(status: int, message: str, code: str | None = None) -> Answer:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return _json({"error": message}, status, **headers)


def _fault_answer(fault: Fault) -> Answer:
    status = int(fault.action)
    if fault.body is not None:
        raw = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body).encode()
        return Answer(status, raw, dict(fault.headers))
    if status in (502, 504):  # what the CDN in front of the Hub sends
        page = CDN_PAGE.format(status=status).encode()
        return Answer(status, page, dict(fault.headers), "text/html")
    code = {404: "RepoNotFound"}.get(status)
    answer = _error(status, MESSAGES.get(status, "Something went wrong"), code)
    answer.headers.update(fault.headers)
    return answer


def _commit_at(repo: Repo, revision: str) -> Commit:
    commit = repo.resolve(unquote(revision or "main"))
    if commit is None:
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    return commit


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _info(repo: Repo, commit: Commit) -> dict[str, Any]:
    return {
        "_id": hashlib.md5(repo.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": commit.oid,
        "lastModified": _iso(commit.at),
        "createdAt": _iso(repo.created),
        "private": repo.private,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": [{"rfilename": p} for p in sorted(commit.files)],
        "usedStorage": sum(len(d) for d in commit.files.values()),
    }


def _preupload(commit: Commit, body: bytes) -> Answer:
    try:
        files = json.loads(body)["files"]
    except (ValueError, KeyError, TypeError):
        raise HubError(400, "Invalid preupload payload") from None
    out = []
    for item in files:
        file_path, size = item["path"], int(item["size"])
        sample = base64.b64decode(item.get("sample", ""))
        mode = "lfs" if size >= LFS_THRESHOLD or b"\x00" in sample else "regular"
        entry: dict[str, Any] = {"path": file_path, "uploadMode": mode, "shouldIgnore": False}
        if file_path in commit.files:
            entry["oid"] = git_blob_oid(commit.files[file_path])
        out.append(entry)
    return _json({"files": out, "commitOid": commit.oid})


def _resolve(
    repo: Repo, rev: str, file_path: str, range_header: str | None, *, head: bool
) -> Answer:
    commit = _commit_at(repo, rev)
    data = commit.files.get(file_path)
    if data is None:
        answer = _error(404, "Entry not found", "EntryNotFound")
        answer.headers["X-Repo-Commit"] = commit.oid
        return answer
    headers = {
        "X-Repo-Commit": commit.oid,
        "ETag": f'"{git_blob_oid(data)}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{quote(file_path.rsplit("/", 1)[-1])}"',
    }
    content_type = (
        "text/csv; charset=utf-8" if file_path.endswith(".csv") else "text/plain; charset=utf-8"
    )
    status, part = 200, data
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (range_header or "").strip())
    if match and data:
        start = int(match.group(1) or 0)
        end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
        if start > end:
            return Answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
        status, part = 206, data[start : end + 1]
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return Answer(status, b"" if head else part, headers, content_type, length=len(part))


def _tree(commit: Commit, under: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{under}/" if under else ""
    if under and under not in commit.files and not any(p.startswith(prefix) for p in commit.files):
        raise HubError(404, f"Entry not found: {under}", "EntryNotFound")
    entries: dict[str, dict[str, Any]] = {}
    for file_path, data in sorted(commit.files.items()):
        if not file_path.startswith(prefix):
            continue
        rest = file_path[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            folder = prefix + "/".join(rest[:depth])
            if depth == 1 or recursive:
                oid = hashlib.sha1(folder.encode(), usedforsecurity=False).hexdigest()
                entries.setdefault(
                    folder, {"type": "directory", "oid": oid, "size": 0, "path": folder}
                )
        if len(rest) == 1 or recursive:
            entries[file_path] = {
                "type": "file",
                "oid": git_blob_oid(data),
                "size": len(data),
                "path": file_path,
            }
    return list(entries.values())


def _paths_info(commit: Commit, body: bytes, content_type: str) -> list[dict[str, Any]]:
    if "json" in content_type:
        paths = json.loads(body).get("paths", [])
    else:
        paths = parse_qs(body.decode()).get("paths", [])
    out = []
    for file_path in paths:
        if file_path in commit.files:
            data = commit.files[file_path]
            out.append(
                {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": file_path}
            )
        elif any(p.startswith(file_path.rstrip("/") + "/") for p in commit.files):
            oid = hashlib.sha1(file_path.encode(), usedforsecurity=False).hexdigest()
            out.append({"type": "directory", "oid": oid, "size": 0, "path": file_path})
    return out


def _validate_yaml(body: bytes) -> Answer:
    """The Hub checks the card's YAML header; it warns when there is none."""
    content = json.loads(body or b"{}").get("content", "")
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.DOTALL)
    if match is None:
        return _json(
            {"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]}
        )
    try:
        import yaml  # type: ignore[import-untyped]  # huggingface_hub depends on PyYAML

        data = yaml.safe_load(match.group(1))
    except ImportError:
        return _json({"errors": [], "warnings": []})
    except Exception as exc:
        errors = [{"message": f"Invalid YAML: {exc}"}]
        return _json({"errors": errors, "warnings": [], "error": "Invalid metadata"}, 400)
    if not isinstance(data, dict):
        errors = [{"message": "YAML metadata must be a mapping"}]
        return _json({"errors": errors, "warnings": [], "error": "Invalid metadata"}, 400)
    for config in data.get("configs") or []:
        if not isinstance(config, dict) or "config_name" not in config:
            errors = [{"message": '"configs" items must have a "config_name"'}]
            return _json({"errors": errors, "warnings": [], "error": "Invalid metadata"}, 400)
    return _json({"errors": [], "warnings": []})


# --- standalone --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--repo", action="append", default=[], help="[dataset:|model:]owner/name")
    parser.add_argument("--token", action="append", default=[], help="TOKEN or TOKEN:read")
    args = parser.parse_args(argv)
    tokens = {t.split(":")[0]: (t.split(":")[1] if ":" in t else "write") for t in args.token}
    hub = FakeHub(tokens=tokens or None, host=args.host, port=args.port)
    for spec in args.repo:
        kind, _, repo_id = spec.rpartition(":")
        hub.create_repo(repo_id, kind or "dataset")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hub.start()
    sys.stdout.write(f"http://{args.host}:{hub.port}\n")
    sys.stdout.flush()
    stop.wait()
    hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
