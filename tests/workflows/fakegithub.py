"""A local GitHub on the loopback: git over smart HTTP and the REST endpoints our workflows use.

The workflows under test reach it exactly as they reach github.com, only under the host name
`github.localhost`, which the GitHub CLI itself treats as a local GitHub over plain HTTP (its
REST prefix for that host is `http://api.github.localhost/`, cli/cli internal/ghinstance/host.go).
The harness maps `github.localhost` and `api.github.localhost` to this server's loopback address
in the job containers (`--add-host`) and sets GITHUB_SERVER_URL/GITHUB_API_URL/GH_HOST to them.

Each endpoint follows GitHub's REST documentation (cited at each handler), unhappy paths
included: a commit that exists only in a fork is not listed by `commits/{sha}/pulls`; the
workflow token may only do what its `permissions:` grant (403 "Resource not accessible by
integration"), may not create pull requests unless the repository allows it, may not push a
change under .github/workflows/ (needs the `workflows` permission, which GITHUB_TOKEN never has);
and the pushes it makes are recorded as made by GITHUB_TOKEN, which the harness then lets start no
workflow (https://docs.github.com/en/actions/security-for-github-actions/security-guides/
automatic-token-authentication#using-the-github_token-in-a-workflow).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from localtrust import SigningKey, registry_token

GIT_HOST, API_HOST = "github.localhost", "api.github.localhost"
FORBIDDEN = "Resource not accessible by integration"
# https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/
# enabling-features-for-your-repository/managing-github-actions-settings-for-a-repository
# #preventing-github-actions-from-creating-or-approving-pull-requests
NO_ACTIONS_PRS = "GitHub Actions is not permitted to create or approve pull requests."
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"

# Run by git-receive-pack inside the bare repositories (the server passes the pusher's token
# facts in the environment): GitHub refuses a workflow-file change from a token without the
# `workflows` permission, and a push to a protected branch from anything but a pull request.
PRE_RECEIVE = r'''#!{python}
import json, os, subprocess, sys
perms = json.loads(os.environ.get("FAKEGH_PERMS", "{{}}"))
protected = json.loads(os.environ.get("FAKEGH_PROTECTED", "[]"))
zero = "0" * 40
for line in sys.stdin:
    old, new, ref = line.split()
    if new == zero:
        continue
    if ref.removeprefix("refs/heads/") in protected and ref.startswith("refs/heads/"):
        print(f"remote: error: GH006: Protected branch update failed for {{ref}}.")
        print("remote: error: Changes must be made through a pull request.")
        sys.exit(1)
    if perms.get("workflows") != "write" and ref.startswith("refs/heads/"):
        span = [new, "--not", "--all"] if old == zero else [f"{{old}}..{{new}}"]
        changed = subprocess.run(["git", "log", "--format=", "--name-only", *span],
                                 capture_output=True, text=True, check=True).stdout.split()
        bad = [p for p in changed if p.startswith(".github/workflows/")]
        if bad:
            print(f"remote: refusing to allow a GitHub App to create or update workflow "
                  f"`{{bad[0]}}` without `workflows` permission")
            sys.exit(1)
'''

POST_RECEIVE = r'''#!{python}
import json, os, sys
with open(os.environ["FAKEGH_EVENTS"], "a") as fh:
    for line in sys.stdin:
        old, new, ref = line.split()
        fh.write(json.dumps({{"repo": os.environ["FAKEGH_REPO"], "ref": ref, "before": old,
                             "after": new, "token": os.environ.get("FAKEGH_TOKEN_KIND", "")}})
                 + "\n")
'''


@dataclass
class Token:
    """Who a token is: `workflow` (GITHUB_TOKEN of a run), `user`, `app`, `oidc` (a run's
    ACTIONS_ID_TOKEN_REQUEST_TOKEN, `run` naming that run's GITHUB_TOKEN); what it may do.

    act hands every job of a run the same GITHUB_TOKEN, where GitHub mints one per job with that
    job's `permissions`. The harness therefore tells the jobs apart here: it runs one job at a
    time and calls `FakeGitHub.start_job` as act starts each job, which sets `job` and
    `permissions` to that job's; between jobs the token may do nothing.
    """

    kind: str
    permissions: dict[str, str]
    login: str = "github-actions[bot]"
    job: str | None = None
    run: str | None = None
    # a run's GITHUB_TOKEN: the repository and workflow it belongs to (what GitHub's OIDC token
    # claims: repository, job_workflow_ref path, ref), so the Sigstore stand-in certifies only
    # statements naming them
    repository: str | None = None
    workflow: str | None = None
    ref: str | None = None
    # a run's GITHUB_TOKEN: the deployment environment of the job running now; an environment
    # secret's token: (environment, the run's GITHUB_TOKEN), usable only while a job of that run
    # names the environment (GitHub gives environment secrets to no other job: "Using
    # environments for deployment", https://docs.github.com/en/actions/managing-workflow-runs-
    # and-deployments/managing-deployments/managing-environments-for-deployment#environment-secrets)
    environment: str | None = None
    scoped_to: tuple[str, str] | None = None

    def may(self, scope: str, level: str = "read") -> bool:
        have = self.permissions.get(scope, "none")
        return have == "write" or (level == "read" and have == "read")


@dataclass
class Repo:
    """One repository's API-side state (git data lives in the bare repository on disk)."""

    full_name: str
    default_branch: str = "main"
    is_template: bool = False
    # a private repository on a plan without artifact attestations (every plan but GitHub
    # Enterprise Cloud: https://docs.github.com/en/actions/security-for-github-actions/
    # using-artifact-attestations/using-artifact-attestations-to-establish-provenance-for-builds)
    private: bool = False
    allow_actions_prs: bool = False          # "Allow GitHub Actions to create ... pull requests"
    protected: list[str] = field(default_factory=list)
    fork_of: str | None = None
    description: str = ""
    # Settings > Actions > Workflow permissions: "restricted" (read contents and packages; the
    # default for new repositories) or "permissive" (read and write), for jobs that set none
    workflow_permissions: str = "restricted"


class FakeGitHub:
    """State plus a threaded HTTP server; `url`s are what the job containers use."""

    def __init__(self, root: Path, address: str = "127.0.0.1", port: int = 80) -> None:
        self.root = root
        self.address, self.port = address, port
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, Token] = {}
        self.pulls: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []        # issues and PRs share numbers, as on GitHub
        self.comments: list[dict[str, Any]] = []
        self.labels: dict[str, list[str]] = {}
        self.dispatches: list[dict[str, Any]] = []
        self.pull_creators: dict[int, str] = {}       # PR number -> kind of token that opened it
        self.artifacts: list[dict[str, Any]] = []
        self.attestations: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.check_runs: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        # self-hosted runners: registration tokens (value -> repo) and the registered runners
        self.registration_tokens: dict[str, str] = {}
        self.runners: list[dict[str, Any]] = []
        self.pull_commits: dict[tuple[str, int], list[str]] = {}   # merged PR -> its commits
        self.requests: list[tuple[str, str, str]] = []  # (method, path, token kind)
        self.token_uses: dict[str, list[tuple[str, str]]] = {}   # token -> [(method, path)]
        self.errors: list[str] = []
        self.events_file = root / "push-events.jsonl"
        self.lock = threading.Lock()
        self._ids = 1000
        # ghcr.io's token service and Sigstore's signing, with local keys (localtrust.py)
        self.registry_key = SigningKey.create(root / "trust", "registry-token")
        self.sigstore_key = SigningKey.create(root / "trust", "sigstore")
        self.registry_service = "registry.localhost"
        self.oidc_issued: dict[str, dict[str, Any]] = {}
        self._server: ThreadingHTTPServer | None = None

    # ---- set-up used by the harness ---------------------------------------------------------
    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def git_dir(self, full_name: str) -> Path:
        return self.root / "git" / f"{full_name}.git"

    def create_repo(self, full_name: str, **settings: Any) -> Repo:
        repo = Repo(full_name, **settings)
        self.repos[full_name] = repo
        self.labels[full_name] = []
        path = self.git_dir(full_name)
        subprocess.run(["git", "init", "-q", "--bare", "-b", repo.default_branch, str(path)],
                       check=True)
        # GitHub serves any reachable commit by SHA (actions/checkout fetches `ref: <sha>`)
        subprocess.run(["git", "-C", str(path), "config", "uploadpack.allowAnySHA1InWant",
                        "true"], check=True)
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        for name, text in (("pre-receive", PRE_RECEIVE), ("post-receive", POST_RECEIVE)):
            hook = path / "hooks" / name
            hook.write_text(text.format(python=sys.executable))
            hook.chmod(0o755)
        return repo

    def add_token(self, token: str, kind: str, permissions: dict[str, str],
                  login: str = "github-actions[bot]") -> str:
        self.tokens[token] = Token(kind, permissions, login)
        return token

    def start_job(self, run_token: str, job: str | None, permissions: dict[str, str],
                  environment: str | None = None) -> None:
        """The run holding `run_token` now runs `job` (None: between jobs) with `permissions`,
        in deployment `environment`."""
        token = self.tokens[run_token]
        with self.lock:
            token.job, token.permissions = job, dict(permissions)
            token.environment = environment

    def take_runner(self, repo: str, label: str, job: str) -> dict[str, Any] | None:
        """An online, idle self-hosted runner of `repo` with `label`, now busy with `job`."""
        with self.lock:
            for runner in self.runners:
                names = {lab["name"] for lab in runner["labels"]}
                if (runner["repo"] == repo and runner["status"] == "online"
                        and not runner["busy"] and label in names):
                    runner["busy"] = True
                    runner["jobs"].append(job)
                    return runner
        return None

    def release_runner(self, runner: dict[str, Any]) -> None:
        """The runner's job is over; an ephemeral runner is then removed from the repository."""
        with self.lock:
            runner["busy"] = False
            if runner["ephemeral"]:
                runner["status"] = "offline"
                runner["removed"] = True

    def push_events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines()]

    def rev(self, full_name: str, ref: str) -> str:
        return subprocess.run(["git", "-C", str(self.git_dir(full_name)), "rev-parse", ref],
                              capture_output=True, text=True, check=True).stdout.strip()

    def open_pull(self, base_repo: str, head_repo: str, head_branch: str, base: str = "main",
                  title: str = "A change", user: str = "octocat") -> dict[str, Any]:
        """A pull request as a person opens it in the web UI; GitHub copies the head to
        refs/pull/N/head in the base repository (also for forks)."""
        return self._create_pull(base_repo, head_repo, head_branch, base, title, "", user)

    def sync_pull_ref(self, pr: dict[str, Any]) -> str:
        """After a push to the PR branch: GitHub moves refs/pull/N/head and the PR's head.sha."""
        head_repo = pr["head"]["repo"]["full_name"]
        base_git = self.git_dir(pr["base"]["repo"]["full_name"])
        subprocess.run(["git", "-C", str(base_git), "fetch", "-q", str(self.git_dir(head_repo)),
                        f"+refs/heads/{pr['head']['ref']}:refs/pull/{pr['number']}/head"],
                       check=True)
        pr["head"]["sha"] = self.rev(head_repo, f"refs/heads/{pr['head']['ref']}")
        # refs/pull/N/merge: the test merge of the head into the base branch, GITHUB_SHA of a
        # pull_request run (docs: "Events that trigger workflows", pull_request)
        base_tip = self.rev(pr["base"]["repo"]["full_name"], f"refs/heads/{pr['base']['ref']}")
        tree = subprocess.run(["git", "-C", str(base_git), "merge-tree", "--write-tree",
                               base_tip, pr["head"]["sha"]], capture_output=True, text=True,
                              check=False)
        if tree.returncode == 0:   # no conflict: GitHub makes the merge ref (mergeable)
            who = {"NAME": "GitHub", "EMAIL": "noreply@github.com"}
            env = {**os.environ, **{f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER")
                                    for k, v in who.items()}}
            merge = subprocess.run(
                ["git", "-C", str(base_git), "commit-tree", tree.stdout.split()[0], "-p", base_tip,
                 "-p", pr["head"]["sha"], "-m", f"Merge {pr['head']['sha']} into {base_tip}"],
                capture_output=True, text=True, check=True, env=env).stdout.strip()
            subprocess.run(["git", "-C", str(base_git), "update-ref",
                            f"refs/pull/{pr['number']}/merge", merge], check=True)
            pr["merge_commit_sha"] = merge
        return pr["head"]["sha"]

    def is_ancestor(self, full_name: str, ancestor: str, descendant: str) -> bool:
        return subprocess.run(["git", "-C", str(self.git_dir(full_name)), "merge-base",
                               "--is-ancestor", ancestor, descendant],
                              capture_output=True, check=False).returncode == 0

    def commit_of(self, full_name: str, ref: str) -> str:
        """A sha, branch or tag name as the REST API resolves `{ref}`; 422 when there is none
        (https://docs.github.com/en/rest/commits/statuses: "ref: The commit reference. Can be a
        commit SHA, branch name (heads/BRANCH_NAME), or tag name (tags/TAG_NAME)")."""
        name = ref.removeprefix("heads/").removeprefix("tags/")
        for candidate in (name, f"refs/heads/{name}", f"refs/tags/{name}"):
            out = subprocess.run(["git", "-C", str(self.git_dir(full_name)), "rev-parse",
                                  "--verify", "-q", f"{candidate}^{{commit}}"],
                                 capture_output=True, text=True, check=False)
            if out.returncode == 0:
                return out.stdout.strip()
        raise ApiError(422, f"No commit found for SHA: {ref}")

    def merge_pull(self, pr: dict[str, Any], login: str = "octocat") -> str:
        """The merge button (merge commit method): the head merged into the base branch, the
        pull request closed with `merged_at` and `merge_commit_sha`
        (https://docs.github.com/en/rest/pulls/pulls#merge-a-pull-request). Returns the merge
        commit; the push it makes is recorded as a person's (it starts main.yml)."""
        repo = pr["base"]["repo"]["full_name"]
        if pr["state"] != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        self.sync_pull_ref(pr)
        base_tip = self.rev(repo, f"refs/heads/{pr['base']['ref']}")
        git = ["git", "-C", str(self.git_dir(repo))]
        tree = subprocess.run([*git, "merge-tree", "--write-tree", base_tip, pr["head"]["sha"]],
                              capture_output=True, text=True, check=False)
        if tree.returncode != 0:
            raise ApiError(405, "Pull Request is not mergeable")
        who = {"NAME": login, "EMAIL": f"{login}@users.noreply.github.com"}
        env = {**os.environ, **{f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER")
                                for k, v in who.items()}}
        merge = subprocess.run(
            [*git, "commit-tree", tree.stdout.split()[0], "-p", base_tip, "-p", pr["head"]["sha"],
             "-m", f"Merge pull request #{pr['number']} from {pr['head']['label']}"],
            capture_output=True, text=True, check=True, env=env).stdout.strip()
        commits = subprocess.run([*git, "rev-list", f"{base_tip}..{pr['head']['sha']}"],
                                 capture_output=True, text=True, check=True).stdout.split()
        subprocess.run([*git, "update-ref", f"refs/heads/{pr['base']['ref']}", merge, base_tip],
                       check=True)
        self.pull_commits[(repo, pr["number"])] = commits
        pr.update(state="closed", merged=True, merged_at="2026-12-01T12:00:00Z",
                  merge_commit_sha=merge)
        for issue in self.issues:
            if issue["repo"] == repo and issue["number"] == pr["number"]:
                issue["state"] = "closed"
        with open(self.events_file, "a") as fh:
            fh.write(json.dumps({"repo": repo, "ref": f"refs/heads/{pr['base']['ref']}",
                                 "before": base_tip, "after": merge, "token": "user"}) + "\n")
        return merge

    def add_review(self, pr: dict[str, Any], login: str, state: str) -> None:
        """A review as a person submits it (APPROVED, CHANGES_REQUESTED, COMMENTED)."""
        self.reviews.append({"id": self.next_id(), "repo": pr["base"]["repo"]["full_name"],
                             "pull": pr["number"], "user": {"login": login}, "state": state,
                             "commit_id": pr["head"]["sha"]})

    def _create_pull(self, base_repo: str, head_repo: str, head_branch: str, base: str,
                     title: str, body: str, user: str) -> dict[str, Any]:
        number = len(self.issues) + 1
        owner = head_repo.split("/")[0]
        pr = {"number": number, "state": "open", "title": title, "body": body,
              "user": {"login": user}, "node_id": f"PR_{number}",
              "html_url": f"http://{GIT_HOST}/{base_repo}/pull/{number}",
              "url": f"http://{API_HOST}/repos/{base_repo}/pulls/{number}",
              "head": {"ref": head_branch, "label": f"{owner}:{head_branch}", "sha": "",
                       "repo": {"full_name": head_repo,
                                "fork": self.repos[head_repo].fork_of is not None}},
              "base": {"ref": base, "sha": self.rev(base_repo, f"refs/heads/{base}"),
                       "repo": {"full_name": base_repo}},
              "merged_at": None, "merge_commit_sha": None,
              "created_at": f"2026-01-01T00:{number // 60 % 60:02d}:{number % 60:02d}Z"}
        self.pulls.append(pr)
        self.issues.append({"number": number, "repo": base_repo, "pull_request": pr,
                            "title": title, "body": body, "state": "open", "labels": []})
        self.sync_pull_ref(pr)
        return pr

    def add_artifact(self, repo: str, run_id: int, head_sha: str, name: str,
                     blob: bytes) -> dict[str, Any]:
        """What the results service keeps after actions/upload-artifact: one zip per name and run
        (a second upload of the same name in a run is a 409 Conflict since artifact v4)."""
        if any(a["repo"] == repo and a["name"] == name and a["workflow_run"]["id"] == run_id
               for a in self.artifacts):
            raise ApiError(409, f"an artifact named {name} already exists in this run")
        aid = self.next_id()
        artifact = {"id": aid, "name": name, "repo": repo, "zip": blob,
                    "size_in_bytes": len(blob), "expired": False,
                    "workflow_run": {"id": run_id, "head_sha": head_sha},
                    "archive_download_url": f"http://{API_HOST}/repos/{repo}/actions/"
                                            f"artifacts/{aid}/zip"}
        self.artifacts.append(artifact)
        return artifact

    # ---- server -----------------------------------------------------------------------------
    def start(self) -> None:
        fake = self

        class Handler(_Handler):
            github = fake

        self._server = ThreadingHTTPServer((self.address, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"message": message, **extra,
                                          "documentation_url": "https://docs.github.com/rest"}


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    # ---- dispatch ---------------------------------------------------------------------------
    def _any(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        try:
            if urlsplit(self.path).path == "/_registry/token":
                self._registry_token()
            elif host == API_HOST or urlsplit(self.path).path.startswith("/api/v3/"):
                self._api()      # api.HOST, or HOST/api/v3 as GitHub Enterprise Server serves it
            else:
                self._git()
        except ApiError as exc:
            self._json(exc.status, exc.body)
        except Exception as exc:  # a bug here must show as a 500 in the job log, not a hang
            self.github.errors.append(f"{self.command} {self.path}: {exc!r}")
            self._json(500, {"message": f"fake GitHub error: {exc!r}"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any  # noqa: N815

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":   # gh --input -
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        raw = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _token(self) -> Token | None:
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if not value:
            return None
        if scheme.lower() == "basic":
            value = base64.b64decode(value).decode().partition(":")[2]
        token = self.github.tokens.get(value)
        if token is None:   # https://docs.github.com/en/rest/authentication (401 Bad credentials)
            raise ApiError(401, "Bad credentials")
        self.github.token_uses.setdefault(value, []).append((self.command,
                                                             urlsplit(self.path).path))
        if token.scoped_to is not None:
            environment, run_token = token.scoped_to
            run = self.github.tokens.get(run_token)
            if run is None or run.environment != environment:   # the secret is empty there
                raise ApiError(401, "Bad credentials")
        return token

    # ---- the registry's token service, as ghcr.io's -------------------------------------------
    def _registry_token(self) -> None:
        """GET /_registry/token?service=&scope=repository:NAME:push,pull (Distribution's token
        authentication, https://distribution.github.io/distribution/spec/auth/token/), with
        Basic USER:GITHUB_TOKEN as `docker login` stores it. As ghcr.io documents for
        GITHUB_TOKEN (https://docs.github.com/en/packages/managing-github-packages-using-github-
        actions-workflows/publishing-and-installing-a-package-with-github-actions
        #authenticating-to-package-registries-on-github): push needs `packages: write` and a
        package of the token's own repository, pull `packages: read`; a public package is pulled
        anonymously. Anything not granted is left out of `access`, so the registry answers
        "denied"; a bad credential is a 401, as `docker login` reports it."""
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        auth = self.headers.get("Authorization", "")
        token: Token | None = None
        if auth:
            scheme, _, value = auth.partition(" ")
            secret = base64.b64decode(value).decode().partition(":")[2] \
                if scheme.lower() == "basic" else value
            token = self.github.tokens.get(secret)
            if token is None:
                self._json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "authentication required"}]})
                return
        access = []
        for scope in query.get("scope", "").split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = []
            for action in actions.split(","):
                if action == "pull" and (token is None or token.may("packages", "read")
                                         or token.kind == "user"):
                    granted.append("pull")
                elif action == "push" and token is not None and (
                        token.kind == "user" or (token.may("packages", "write") and
                                                 name.startswith(f"{token.repository}".lower()))):
                    granted.append("push")
            if kind == "repository" and granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        jwt = registry_token(self.github.registry_key, "fakegithub", self.github.registry_service,
                             token.login if token else "anonymous", access)
        self._json(200, {"token": jwt, "access_token": jwt, "expires_in": 600})

    # ---- git smart HTTP (git http-backend, as GitHub serves https://github.com/OWNER/REPO.git) -
    def _git(self) -> None:
        url = urlsplit(self.path)
        match = re.match(r"^/([^/]+/[^/]+?)(?:\.git)?(/.*)$", url.path)
        repo = self.github.repos.get(match.group(1)) if match else None
        if repo is None:
            self.send_error(404)
            return
        pushing = "git-receive-pack" in url.path or "service=git-receive-pack" in url.query
        try:
            token = self._token()
        except ApiError:
            token = None
        if pushing and (token is None or not token.may("contents", "write")):
            # git asks again with credentials after a 401, as with github.com
            self.send_response(401 if token is None else 403)
            self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.github.root / "git"),
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": f"/{repo.full_name}.git{match.group(2)}",
               "QUERY_STRING": url.query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "REMOTE_USER": token.login if token else "", "REMOTE_ADDR": "127.0.0.1",
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
               "FAKEGH_EVENTS": str(self.github.events_file), "FAKEGH_REPO": repo.full_name,
               "FAKEGH_TOKEN_KIND": token.kind if token else "",
               "FAKEGH_PERMS": json.dumps(token.permissions if token else {}),
               "FAKEGH_PROTECTED": json.dumps(repo.protected if token and
                                              token.kind != "admin" else [])}
        body = self._body()
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip
            body = gzip.decompress(body)
        env["CONTENT_LENGTH"] = str(len(body))
        out = subprocess.run([HTTP_BACKEND], input=body, capture_output=True, env=env,
                             check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # ---- REST ---------------------------------------------------------------------------------
    def _api(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.removeprefix("/api/v3")
        # The signing service takes the OIDC token itself as its bearer, and a runner registers
        # with its registration token: both are answered before the GitHub token check below.
        token = None if path in ("/_runner/sigstore/sign", "/_runner/register") else \
            self._token()
        self.github.requests.append((self.command, url.path, token.kind if token else ""))
        if path == "/_runner/oidc" and self.command == "GET":
            # Not public REST: the runner's OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_URL), which
            # GitHub offers only to jobs with `id-token: write` outside forks' pull requests
            # (https://docs.github.com/en/actions/security-for-github-actions/
            # security-hardening-your-deployments/about-security-hardening-with-openid-connect
            # #adding-permissions-settings). act sets the variable in every job of a run, so the
            # answer depends on the job running now: for any other job it is as if unset.
            if token is None or token.kind != "oidc":
                raise ApiError(401, "Bad credentials")
            run = self.github.tokens.get(token.run or "")
            if run is None or run.permissions.get("id_token") != "write":
                job = run.job if run else None
                raise ApiError(403, f"Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable: "
                                    f"job {job!r} has no `id-token: write` permission")
            # the claims GitHub's OIDC token carries (https://docs.github.com/en/actions/
            # security-for-github-actions/security-hardening-your-deployments/
            # about-security-hardening-with-openid-connect#understanding-the-oidc-token)
            claims = {"iss": "https://token.actions.githubusercontent.com",
                      "aud": query.get("audience", ""), "repository": run.repository,
                      "repository_owner": (run.repository or "").split("/")[0],
                      "job_workflow_ref": f"{run.repository}/{run.workflow}@{run.ref}",
                      "workflow_ref": f"{run.repository}/{run.workflow}@{run.ref}",
                      "ref": run.ref, "job": run.job, "run_id": query.get("run", "")}
            jwt = self.github.sigstore_key.jwt(claims)
            self.github.oidc_issued[jwt] = claims
            self._json(200, {"value": jwt})
            return
        if path == "/_runner/sigstore/sign" and self.command == "POST":
            # Not public REST: Sigstore's Fulcio + signing, reduced to "sign this DSSE payload"
            # for the bearer of an OIDC token this server issued (so for a job with
            # `id-token: write`). Fulcio certifies the identity in that token, so the statement
            # must name its repository, workflow and ref (the certificate's SAN and source
            # repository extensions), or it is refused.
            bearer = (self.headers.get("Authorization") or "").partition(" ")[2]
            claims = self.github.oidc_issued.get(bearer)
            if claims is None:
                raise ApiError(401, "signing needs an OIDC token from ACTIONS_ID_TOKEN_REQUEST_URL")
            body = json.loads(self._body() or b"{}")
            payload = base64.b64decode(body.get("payload", ""))
            try:
                workflow = json.loads(payload)["predicate"]["buildDefinition"][
                    "externalParameters"]["workflow"]
                named = (f"{'/'.join(workflow['repository'].split('/')[-2:])}/"
                         f"{workflow['path']}@{workflow['ref']}")
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, "the payload is not a SLSA v1 workflow statement") from None
            if named != claims["job_workflow_ref"]:
                raise ApiError(400, f"the statement names {named}, the OIDC token "
                                    f"{claims['job_workflow_ref']}")
            t = body["payloadType"].encode()
            pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
            self._json(200, {"sig": base64.b64encode(self.github.sigstore_key.sign(pae)).decode()})
            return
        if path == "/_runner/register" and self.command == "POST":
            # Not public REST: what a self-hosted runner's `./config.sh --url URL --token
            # REGISTRATION_TOKEN --name --labels [--ephemeral]` does ("Adding self-hosted
            # runners", https://docs.github.com/en/actions/hosting-your-own-runners/
            # managing-self-hosted-runners/adding-self-hosted-runners): only a registration token
            # of the repository registers; the runner gets the default labels `self-hosted`,
            # `Linux`, `X64` plus the custom ones, and an ephemeral one takes a single job.
            bearer = (self.headers.get("Authorization") or "").partition(" ")[2]
            repo_name = self.github.registration_tokens.get(bearer)
            if repo_name is None:
                raise ApiError(401, "registration token is not valid (or expired)")
            body = json.loads(self._body() or b"{}")
            labels = body.get("labels") or []
            if not body.get("name") or not isinstance(labels, list):
                raise ApiError(422, "a runner needs a name and a list of labels")
            runner = {"id": self.github.next_id(), "repo": repo_name, "name": body["name"],
                      "os": "Linux", "status": "online", "busy": False,
                      "ephemeral": bool(body.get("ephemeral")), "jobs": [],
                      "instance": body.get("instance"),
                      "labels": [{"name": n, "type": "read-only"}
                                 for n in ("self-hosted", "Linux", "X64")] +
                                [{"name": str(n), "type": "custom"} for n in labels]}
            if any(r["repo"] == repo_name and r["name"] == runner["name"]
                   and not r.get("removed") for r in self.github.runners):
                raise ApiError(422, f"a runner named {runner['name']!r} already exists")
            self.github.runners.append(runner)
            self._json(201, _runner_json(runner))
            return
        if path == "/_runner/artifacts" and self.command == "POST":
            # Not public REST: what actions/upload-artifact sends to the runner's results
            # service (ACTIONS_RESULTS_URL), reduced to "store this zip for this run".
            if token is None or token.kind != "runtime":
                raise ApiError(401, "Bad credentials")
            artifact = self.github.add_artifact(query["repo"], int(query["run_id"]),
                                                query["sha"], query["name"], self._body())
            self._json(201, {"id": artifact["id"]})
            return
        for method, pattern, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and method == self.command:
                repo = self.github.repos.get(f"{match.group(1)}/{match.group(2)}")
                if repo is None:
                    raise ApiError(404, "Not Found")
                data = json.loads(self._body() or b"null") if self.command != "GET" else None
                status, answer, *extra = handler(self.github, repo, token, match.groups()[2:],
                                                 query, data)
                if isinstance(answer, Paged):
                    answer, links = answer.page(query, f"http://{API_HOST}{url.path}")
                    extra = [{"Link": links}] if links else []
                if isinstance(answer, bytes):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/zip")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    self._json(status, answer, extra[0] if extra else None)
                return
        raise ApiError(404, "Not Found")


# ---- handlers: (github, repo, token, path groups, query, json body) -> (status, json) ----------
def _need(token: Token | None, scope: str, level: str) -> None:
    if token is None:
        raise ApiError(401, "Requires authentication")
    if not token.may(scope, level):
        raise ApiError(403, FORBIDDEN)


@dataclass
class Paged:
    """A list answer, paged by the dispatcher as GitHub pages every list endpoint
    (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api):
    `per_page` defaults to 30, at most 100; `page` from 1; when there is more than one page, a
    `Link` header with rel="first"/"prev"/"next"/"last" URLs that keep the other query
    parameters. `key` wraps the page as {"total_count": n, key: [...]} (check runs, artifacts)."""

    items: list[Any]
    key: str | None = None

    def page(self, query: dict[str, str], url: str) -> tuple[Any, str]:
        def number(name: str, default: int) -> int:
            try:
                return max(1, int(query.get(name, default)))
            except ValueError:
                return default
        per_page, page = min(number("per_page", 30), 100), number("page", 1)
        last = max(1, -(-len(self.items) // per_page))
        chunk = self.items[(page - 1) * per_page: page * per_page]
        rels = {"first": 1, "prev": page - 1, "next": page + 1, "last": last}
        links = ", ".join(
            f'<{url}?{urlencode({**query, "per_page": per_page, "page": n})}>; rel="{rel}"'
            for rel, n in rels.items() if 1 <= n <= last and n != page) if last > 1 else ""
        answer = {"total_count": len(self.items), self.key: chunk} if self.key else chunk
        return answer, links


def get_repo(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
             data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/repos/repos#get-a-repository
    return 200, {"full_name": repo.full_name, "default_branch": repo.default_branch,
                 "is_template": repo.is_template, "fork": repo.fork_of is not None,
                 "private": repo.private, "visibility": "private" if repo.private else "public",
                 "description": repo.description}


def commit_pulls(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                 query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit
    # "Lists the merged pull request that introduced the commit to the repository. If the commit
    # is not present in the default branch, will only return open pull requests associated with
    # the commit." Open ones: those whose head branch is in this repository and contains the
    # commit; a commit that exists only in a fork is not associated with them, and the answer
    # is []. Fine-grained tokens need "Pull requests" (read).
    (sha,) = groups
    _need(token, "pull_requests", "read") if token and token.kind == "workflow" else None
    ours = [pr for pr in gh.pulls if pr["base"]["repo"]["full_name"] == repo.full_name]
    default_tip = gh.rev(repo.full_name, f"refs/heads/{repo.default_branch}")
    if gh.is_ancestor(repo.full_name, sha, default_tip):
        found = [pr for pr in ours if pr.get("merged_at") and (
            pr["merge_commit_sha"] == sha
            or sha in gh.pull_commits.get((repo.full_name, pr["number"]), []))]
        return 200, Paged(found)
    found = [pr for pr in ours if pr["state"] == "open"
             and pr["head"]["repo"]["full_name"] == repo.full_name
             and gh.is_ancestor(repo.full_name, sha,
                                gh.rev(repo.full_name, f"refs/heads/{pr['head']['ref']}"))]
    return 200, Paged(found)


def _sorted(items: list[dict[str, Any]], query: dict[str, str],
            created: str) -> list[dict[str, Any]]:
    # List pulls and list issues: sort=created by default, direction desc by default (newest
    # first); direction asc when asked. Creation order is the number here.
    if query.get("sort", "created") not in ("created", "updated", "popularity", "long-running",
                                            "comments"):
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "Search", "field": "sort", "code": "invalid"}])
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "Search", "field": "direction", "code": "invalid"}])
    return sorted(items, key=lambda i: i[created], reverse=direction == "desc")


def list_pulls(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
               query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/pulls/pulls#list-pull-requests
    # head: "user:ref-name" or "organization:ref-name"; state: open (default), closed, all
    state = query.get("state", "open")
    found = [pr for pr in gh.pulls if pr["base"]["repo"]["full_name"] == repo.full_name
             and (state == "all" or pr["state"] == state)
             and ("head" not in query or pr["head"]["label"] == query["head"])
             and ("base" not in query or pr["base"]["ref"] == query["base"])]
    # sort: created (default), direction: desc by default (newest first)
    return 200, Paged(_sorted(found, query, "number"))


def get_pull(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
             data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request
    for pr in gh.pulls:
        if pr["base"]["repo"]["full_name"] == repo.full_name and pr["number"] == int(groups[0]):
            return 200, pr
    raise ApiError(404, "Not Found")


def create_pull(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request
    _need(token, "pull_requests", "write")
    assert token is not None
    if token.kind == "workflow" and not repo.allow_actions_prs:
        raise ApiError(403, NO_ACTIONS_PRS)
    for key in ("head", "base"):
        if not isinstance(data.get(key), str):
            raise ApiError(422, "Validation Failed",
                           errors=[{"resource": "PullRequest", "field": key,
                                    "code": "missing_field"}])
    owner, _, branch = data["head"].rpartition(":")
    head_repo = f"{owner}/{repo.full_name.split('/')[1]}" if owner else repo.full_name
    if any(pr["head"]["label"] == f"{head_repo.split('/')[0]}:{branch}" and pr["state"] == "open"
           for pr in gh.pulls if pr["base"]["repo"]["full_name"] == repo.full_name):
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "PullRequest", "code": "custom",
                                "message": f"A pull request already exists for "
                                           f"{head_repo.split('/')[0]}:{branch}."}])
    pr = gh._create_pull(repo.full_name, head_repo, branch, data["base"],
                         data.get("title", ""), data.get("body", ""), token.login)
    gh.pull_creators[pr["number"]] = token.kind
    return 201, pr


def update_pull(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/pulls/pulls#update-a-pull-request
    _need(token, "pull_requests", "write")
    status, pr = get_pull(gh, repo, token, groups, query, data)
    for key in ("title", "body", "state"):
        if key in data:
            pr[key] = data[key]
    return 200, pr


def _issue(gh: FakeGitHub, repo: Repo, number: int) -> dict[str, Any]:
    for issue in gh.issues:
        if issue["repo"] == repo.full_name and issue["number"] == number:
            return issue
    raise ApiError(404, "Not Found")


def _issue_json(issue: dict[str, Any]) -> dict[str, Any]:
    # Every pull request is an issue in the REST API; those carry a `pull_request` key
    # (https://docs.github.com/en/rest/issues/issues#list-repository-issues)
    out = {"number": issue["number"], "title": issue["title"], "body": issue["body"],
           "state": issue["state"], "labels": [{"name": n} for n in issue["labels"]],
           "html_url": f"http://{GIT_HOST}/{issue['repo']}/issues/{issue['number']}"}
    if issue.get("pull_request"):
        out["pull_request"] = {"url": issue["pull_request"]["url"]}
    return out


def list_issues(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/issues#list-repository-issues
    _need(token, "issues", "read") if token and token.kind == "workflow" else None
    state = query.get("state", "open")
    labels = [name for name in query.get("labels", "").split(",") if name]
    found = [_issue_json(i) for i in gh.issues if i["repo"] == repo.full_name
             and (state == "all" or i["state"] == state)
             and all(name in i["labels"] for name in labels)]
    return 200, Paged(_sorted(found, query, "number"))


def create_issue(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                 data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/issues#create-an-issue
    _need(token, "issues", "write")
    if not data.get("title"):
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "Issue", "field": "title", "code": "missing_field"}])
    issue = {"number": len(gh.issues) + 1, "repo": repo.full_name, "title": data["title"],
             "body": data.get("body", ""), "state": "open",
             "labels": [lb if isinstance(lb, str) else lb["name"]
                        for lb in data.get("labels", [])]}
    for name in issue["labels"]:   # GitHub creates a missing label on the fly
        if name not in gh.labels[repo.full_name]:
            gh.labels[repo.full_name].append(name)
    gh.issues.append(issue)
    return 201, _issue_json(issue)


def update_issue(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                 data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/issues#update-an-issue
    issue = _issue(gh, repo, int(groups[0]))
    _need(token, "pull_requests" if issue.get("pull_request") else "issues", "write")
    for key in ("title", "body", "state"):
        if key in data:
            issue[key] = data[key]
            if issue.get("pull_request"):
                issue["pull_request"][key] = data[key]
    return 200, _issue_json(issue)


def get_label(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
              data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/labels#get-a-label (404 when there is none)
    if groups[0] not in gh.labels[repo.full_name]:
        raise ApiError(404, "Not Found")
    return 200, {"name": groups[0]}


def create_label(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                 data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/labels#create-a-label (422 already_exists)
    _need(token, "issues", "write")
    if data["name"] in gh.labels[repo.full_name]:
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "Label", "code": "already_exists", "field": "name"}])
    gh.labels[repo.full_name].append(data["name"])
    return 201, {"name": data["name"], "color": data.get("color", "ededed")}


def _comment_json(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("id", "body", "user", "html_url", "created_at")}


def list_comments(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                  query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/comments#list-issue-comments (oldest first, paged)
    issue = _issue(gh, repo, int(groups[0]))
    found = [_comment_json(c) for c in gh.comments
             if c["repo"] == repo.full_name and c["issue"] == issue["number"]]
    return 200, Paged(found)


def create_comment(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                   data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/comments#create-an-issue-comment; on a pull
    # request the token needs pull-requests (or issues) write
    issue = _issue(gh, repo, int(groups[0]))
    if token is None:
        raise ApiError(401, "Requires authentication")
    if not (token.may("issues", "write") or
            (issue.get("pull_request") and token.may("pull_requests", "write"))):
        raise ApiError(403, FORBIDDEN)
    if not isinstance(data.get("body"), str) or len(data["body"]) > 65536:
        # "body is too long (maximum is 65536 characters)"
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "IssueComment", "field": "body", "code": "custom"}])
    cid = gh.next_id()
    comment = {"id": cid, "repo": repo.full_name, "issue": issue["number"], "body": data["body"],
               "user": {"login": token.login}, "created_at": f"2026-01-01T00:00:{cid % 60:02d}Z",
               "html_url": f"http://{GIT_HOST}/{repo.full_name}/issues/{issue['number']}"
                           f"#issuecomment-{cid}"}
    gh.comments.append(comment)
    return 201, _comment_json(comment)


def update_comment(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                   data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/issues/comments#update-an-issue-comment
    for comment in gh.comments:
        if comment["repo"] == repo.full_name and comment["id"] == int(groups[0]):
            issue = _issue(gh, repo, comment["issue"])
            if token is None or not (token.may("issues", "write") or (
                    issue.get("pull_request") and token.may("pull_requests", "write"))):
                raise ApiError(403, FORBIDDEN)
            comment["body"] = data["body"]
            return 200, _comment_json(comment)
    raise ApiError(404, "Not Found")


def dispatch(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
             data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event (204);
    # runs even when GITHUB_TOKEN asked (the exception to "no recursive runs")
    _need(token, "actions", "write")
    ref = (data or {}).get("ref")
    if not ref:
        raise ApiError(422, "Invalid request.\n\nFor 'properties/ref', nil is not a string.")
    gh.dispatches.append({"repo": repo.full_name, "workflow": groups[0], "ref": ref,
                          "inputs": data.get("inputs") or {}})
    return 204, None


def list_run_artifacts(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                       query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/actions/artifacts#list-workflow-run-artifacts
    _need(token, "actions", "read") if token and token.kind == "workflow" else None
    found = [{k: a[k] for k in ("id", "name", "size_in_bytes", "expired", "workflow_run",
                                "archive_download_url")}
             for a in gh.artifacts if a["repo"] == repo.full_name
             and a["workflow_run"]["id"] == int(groups[0])
             and query.get("name", a["name"]) == a["name"]]
    return 200, Paged(found, key="artifacts")


def download_artifact(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                      data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/actions/artifacts#download-an-artifact: "302 Found" to a
    # short-lived URL of the zip; here the zip itself, which is what a client ends up with
    _need(token, "actions", "read")
    for a in gh.artifacts:
        if a["repo"] == repo.full_name and a["id"] == int(groups[0]):
            return 200, a["zip"]
    raise ApiError(404, "Not Found")


def _statement(bundle: Any) -> dict[str, Any]:
    """The in-toto statement a Sigstore bundle's DSSE envelope carries; 422 when it is not one
    (https://github.com/sigstore/protobuf-specs/blob/main/protos/sigstore_bundle.proto)."""
    def invalid(why: str) -> ApiError:
        return ApiError(422, f"Validation Failed: bundle: {why}",
                        errors=[{"resource": "Attestation", "field": "bundle",
                                 "code": "invalid"}])
    if not isinstance(bundle, dict):
        raise invalid("missing")
    if not str(bundle.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        raise invalid("mediaType is not a Sigstore bundle")
    envelope = bundle.get("dsseEnvelope") or {}
    if envelope.get("payloadType") != "application/vnd.in-toto+json" or \
            not envelope.get("signatures"):
        raise invalid("dsseEnvelope needs an in-toto payloadType and a signature")
    try:
        statement = json.loads(base64.b64decode(envelope["payload"]))
        digests = [s["digest"]["sha256"] for s in statement["subject"]]
    except (KeyError, TypeError, ValueError):
        raise invalid("payload is not an in-toto statement with sha256 subjects") from None
    if not digests or not isinstance(statement.get("predicateType"), str):
        raise invalid("payload is not an in-toto statement with sha256 subjects")
    return statement


def create_attestation(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                       data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/repos/attestations#create-an-attestation: "must have write
    # permission to the repository and ... the attestations:write permission"; 201 {"id"}
    _need(token, "attestations", "write")
    if repo.private:
        # the plan has no artifact attestations for private repositories (see Repo.private)
        raise ApiError(403, "Artifact attestations are not available for private repositories "
                            "on this plan")
    bundle = (data or {}).get("bundle")
    statement = _statement(bundle)
    aid = gh.next_id()
    gh.attestations.append({"id": aid, "repo": repo.full_name, "bundle": bundle,
                            "digests": [f"sha256:{s['digest']['sha256']}"
                                        for s in statement["subject"]],
                            "predicate_type": statement["predicateType"]})
    return 201, {"id": aid}


def list_attestations(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                      query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/repos/attestations#list-attestations: "must have read
    # access to the repository ... when using a fine-grained access token the attestations:read
    # permission is required"; {"attestations": [{"bundle", "repository_id", "bundle_url"}]},
    # optional predicate_type filter, per_page (max 100; cursor paging not modelled).
    _need(token, "attestations", "read") if token and token.kind == "workflow" else None
    (digest,) = groups
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ApiError(422, "Validation Failed: subject_digest must be sha256:<hex>")
    kind = query.get("predicate_type")
    found = [{"bundle": a["bundle"], "repository_id": repo_id(repo.full_name),
              "bundle_url": None}
             for a in gh.attestations if a["repo"] == repo.full_name and digest in a["digests"]
             and (kind is None or a["predicate_type"] == kind)]
    per_page = min(int(query.get("per_page", 30) or 30), 100)
    return 200, {"attestations": found[:per_page]}


def repo_id(full_name: str) -> int:
    """A repository's numeric id (stable, as GitHub's)."""
    return zlib.crc32(full_name.encode()) % 10**8


def list_reviews(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                 query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request:
    # "in chronological order"; "Pull requests" (read); 404 for an unknown pull request
    _need(token, "pull_requests", "read") if token and token.kind == "workflow" else None
    get_pull(gh, repo, token, groups, query, data)
    return 200, Paged([{k: r[k] for k in ("id", "user", "state", "commit_id")}
                       for r in gh.reviews
                       if r["repo"] == repo.full_name and r["pull"] == int(groups[0])])


CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped",
               "stale", "timed_out")


def _check_fields(run: dict[str, Any], data: dict[str, Any]) -> None:
    # status: queued (default) ... completed; "Providing conclusion will automatically set the
    # status parameter to completed"; conclusion is "Required if you provide completed_at or a
    # status of completed"
    for key in ("status", "conclusion"):
        allowed = CHECK_STATUSES if key == "status" else CONCLUSIONS
        if key in data and data[key] not in allowed:
            raise ApiError(422, f"Validation Failed: {key} is not included in the list",
                           errors=[{"resource": "CheckRun", "field": key, "code": "invalid"}])
    run.update({k: data[k] for k in ("name", "details_url", "external_id", "output",
                                     "status", "conclusion") if k in data})
    if data.get("conclusion"):
        run["status"] = "completed"
    if run["status"] == "completed" and not run.get("conclusion"):
        raise ApiError(422, "Validation Failed: conclusion must be provided when status is "
                            "completed", errors=[{"resource": "CheckRun", "field": "conclusion",
                                                  "code": "missing_field"}])


def create_check_run(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                     data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/checks/runs#create-a-check-run: "you must use a GitHub App.
    # OAuth apps and authenticated users are not able to create a check suite" (GITHUB_TOKEN is
    # an App installation token); "Checks" (write); name and head_sha required
    if token is not None and token.kind == "user":
        raise ApiError(403, "You must authenticate via a GitHub App.")
    _need(token, "checks", "write")
    data = data or {}
    for key in ("name", "head_sha"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ApiError(422, f"Validation Failed: {key} is missing",
                           errors=[{"resource": "CheckRun", "field": key,
                                    "code": "missing_field"}])
    sha = gh.commit_of(repo.full_name, data["head_sha"])
    run = {"id": gh.next_id(), "repo": repo.full_name, "head_sha": sha, "status": "queued",
           "conclusion": None, "output": {}, "app": {"slug": "github-actions"}}
    _check_fields(run, data)
    gh.check_runs.append(run)
    return 201, _check_json(run)


def _check_json(run: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in run.items() if k != "repo"}
    out["html_url"] = f"http://{GIT_HOST}/{run['repo']}/runs/{run['id']}"
    return out


def update_check_run(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                     data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/checks/runs#update-a-check-run ("Checks" write)
    if token is not None and token.kind == "user":
        raise ApiError(403, "You must authenticate via a GitHub App.")
    _need(token, "checks", "write")
    for run in gh.check_runs:
        if run["repo"] == repo.full_name and run["id"] == int(groups[0]):
            _check_fields(run, data or {})
            return 200, _check_json(run)
    raise ApiError(404, "Not Found")


def list_check_runs(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                    query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/checks/runs#list-check-runs-for-a-git-reference:
    # check_name, status filters; filter=latest (default) keeps the newest run per name;
    # {"total_count", "check_runs"}; "Checks" (read)
    _need(token, "checks", "read") if token and token.kind == "workflow" else None
    sha = gh.commit_of(repo.full_name, groups[0])
    runs = [r for r in reversed(gh.check_runs) if r["repo"] == repo.full_name
            and r["head_sha"] == sha and query.get("check_name", r["name"]) == r["name"]
            and query.get("status", r["status"]) == r["status"]]
    if query.get("filter", "latest") == "latest":
        seen: set[str] = set()
        runs = [r for r in runs if not (r["name"] in seen or seen.add(r["name"]))]
    return 200, Paged([_check_json(r) for r in runs], key="check_runs")


def create_status(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any, query: Any,
                  data: dict[str, Any]) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/commits/statuses#create-a-commit-status: state one of
    # error, failure, pending, success; context defaults to "default"; "Commit statuses" (write)
    _need(token, "statuses", "write")
    data = data or {}
    if data.get("state") not in ("error", "failure", "pending", "success"):
        raise ApiError(422, "Validation Failed: state is not included in the list",
                       errors=[{"resource": "Status", "field": "state", "code": "invalid"}])
    sha = gh.commit_of(repo.full_name, groups[0])
    status = {"id": gh.next_id(), "repo": repo.full_name, "sha": sha, "state": data["state"],
              "context": data.get("context") or "default",
              "description": data.get("description"), "target_url": data.get("target_url"),
              "creator": {"login": token.login if token else ""}}
    gh.statuses.append(status)
    return 201, {k: v for k, v in status.items() if k not in ("repo", "sha")}


def list_statuses(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                  query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/commits/statuses#list-commit-statuses-for-a-reference:
    # "in reverse chronological order"; "Commit statuses" (read)
    _need(token, "statuses", "read") if token and token.kind == "workflow" else None
    sha = gh.commit_of(repo.full_name, groups[0])
    return 200, Paged([{k: v for k, v in s.items() if k not in ("repo", "sha")}
                       for s in reversed(gh.statuses)
                       if s["repo"] == repo.full_name and s["sha"] == sha])


def combined_status(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                    query: dict[str, str], data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/commits/statuses#get-the-combined-status-for-a-specific-
    # reference: the latest status per context; state "failure" if any is error or failure,
    # "pending" if there are none or any is pending, else "success"
    _need(token, "statuses", "read") if token and token.kind == "workflow" else None
    sha = gh.commit_of(repo.full_name, groups[0])
    latest: dict[str, dict[str, Any]] = {}
    for st in gh.statuses:
        if st["repo"] == repo.full_name and st["sha"] == sha:
            latest[st["context"]] = st
    states = {st["state"] for st in latest.values()}
    state = ("failure" if states & {"error", "failure"} else
             "pending" if not states or "pending" in states else "success")
    return 200, {"state": state, "sha": sha, "total_count": len(latest),
                 "statuses": [{k: v for k, v in st.items() if k not in ("repo", "sha")}
                              for st in latest.values()]}


def _runner_json(runner: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in runner.items() if k not in ("repo", "jobs", "instance", "removed")}


def create_registration_token(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                              query: Any, data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/actions/self-hosted-runners#create-a-registration-token-
    # for-a-repository: "Administration" repository permission (write) for fine-grained tokens
    # and apps, the `repo` scope for classic ones; a GITHUB_TOKEN has no administration
    # permission at all, so a workflow token is refused. Valid for one hour.
    _need(token, "administration", "write")
    value = f"REG{secrets.token_hex(12).upper()}"
    gh.registration_tokens[value] = repo.full_name
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return 201, {"token": value, "expires_at": expires.isoformat(timespec="seconds")}


def list_runners(gh: FakeGitHub, repo: Repo, token: Token | None, groups: Any,
                 query: Any, data: Any) -> tuple[int, Any]:
    # https://docs.github.com/en/rest/actions/self-hosted-runners#list-self-hosted-runners-for-
    # a-repository: "Administration" repository permission (read)
    _need(token, "administration", "read")
    return 200, Paged([_runner_json(r) for r in gh.runners
                       if r["repo"] == repo.full_name and not r.get("removed")],
                      key="runners")


ROUTES = [
    ("POST", r"/repos/([^/]+)/([^/]+)/actions/runners/registration-token",
     create_registration_token),
    ("GET", r"/repos/([^/]+)/([^/]+)/actions/runners", list_runners),
    ("POST", r"/repos/([^/]+)/([^/]+)/attestations", create_attestation),
    ("GET", r"/repos/([^/]+)/([^/]+)/attestations/([^/]+)", list_attestations),
    ("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)/reviews", list_reviews),
    ("POST", r"/repos/([^/]+)/([^/]+)/check-runs", create_check_run),
    ("PATCH", r"/repos/([^/]+)/([^/]+)/check-runs/(\d+)", update_check_run),
    ("GET", r"/repos/([^/]+)/([^/]+)/commits/([^/]+)/check-runs", list_check_runs),
    ("POST", r"/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})", create_status),
    ("GET", r"/repos/([^/]+)/([^/]+)/commits/([^/]+)/statuses", list_statuses),
    ("GET", r"/repos/([^/]+)/([^/]+)/commits/([^/]+)/status", combined_status),
    ("GET", r"/repos/([^/]+)/([^/]+)", get_repo),
    ("GET", r"/repos/([^/]+)/([^/]+)/commits/([0-9a-f]{40})/pulls", commit_pulls),
    ("GET", r"/repos/([^/]+)/([^/]+)/pulls", list_pulls),
    ("POST", r"/repos/([^/]+)/([^/]+)/pulls", create_pull),
    ("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", get_pull),
    ("PATCH", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", update_pull),
    ("GET", r"/repos/([^/]+)/([^/]+)/issues", list_issues),
    ("POST", r"/repos/([^/]+)/([^/]+)/issues", create_issue),
    ("PATCH", r"/repos/([^/]+)/([^/]+)/issues/(\d+)", update_issue),
    ("GET", r"/repos/([^/]+)/([^/]+)/labels/([^/]+)", get_label),
    ("POST", r"/repos/([^/]+)/([^/]+)/labels", create_label),
    ("GET", r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", list_comments),
    ("POST", r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments", create_comment),
    ("PATCH", r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)", update_comment),
    ("POST", r"/repos/([^/]+)/([^/]+)/actions/workflows/([^/]+)/dispatches", dispatch),
    ("GET", r"/repos/([^/]+)/([^/]+)/actions/runs/(\d+)/artifacts", list_run_artifacts),
    ("GET", r"/repos/([^/]+)/([^/]+)/actions/artifacts/(\d+)/zip", download_artifact),
]


def zip_folder(folder: Path) -> bytes:
    """A folder as the zip an artifact download returns (paths relative to the folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()
