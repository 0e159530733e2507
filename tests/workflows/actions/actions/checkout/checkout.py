"""actions/checkout v7.0.1, the part our workflows use (see action.yml next to this file)."""

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

env = os.environ
event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
repository = env["INPUT_REPOSITORY"]
ref = env["INPUT_REF"].strip()
depth = int(env["INPUT_FETCH_DEPTH"] or "1")
workspace = Path(env["GITHUB_WORKSPACE"]) / env["INPUT_PATH"]
SHA = re.compile(r"^[0-9a-fA-F]{40}$")


def git(*args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=workspace, capture_output=True, text=True)
    if check and out.returncode != 0:
        sys.exit(f"::error::git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


# Without `ref`: the event's own ref and commit (for pull_request, GitHub's merge ref).
if not ref:
    ref, commit = env.get("GITHUB_REF", ""), env.get("GITHUB_SHA", "")
else:
    commit = ref if SHA.match(ref) else ""

# v7: refuse a fork pull request's code in workflow_run / pull_request_target
name = env["GITHUB_EVENT_NAME"]
if env["INPUT_ALLOW_UNSAFE_PR_CHECKOUT"].lower() != "true" and name in (
        "workflow_run", "pull_request_target"):
    base_id = (event.get("repository") or {}).get("id")
    if name == "pull_request_target":
        pr = event.get("pull_request") or {}
        head_repo, shas = pr.get("head", {}).get("repo") or {}, [pr.get("head", {}).get("sha")]
        is_pr = True
    else:
        run = event.get("workflow_run") or {}
        is_pr = str(run.get("event", "")).startswith("pull_request")
        head_repo, shas = run.get("head_repository") or {}, [run.get("head_sha")]
    fork = is_pr and isinstance(base_id, int) and head_repo.get("id") not in (None, base_id)
    if fork and (repository.lower() == str(head_repo.get("full_name", "")).lower()
                 or re.match(r"^refs/pull/", ref) or (commit and commit.lower() in shas)):
        sys.exit(f"::error::Refusing to check out fork pull request code from a '{name}' "
                 "workflow. ... set 'allow-unsafe-pr-checkout: true' on the actions/checkout "
                 "step.")

workspace.mkdir(parents=True, exist_ok=True)
url = f"{env['GITHUB_SERVER_URL']}/{repository}"
auth = "AUTHORIZATION: basic " + base64.b64encode(
    f"x-access-token:{env['INPUT_TOKEN']}".encode()).decode()
if (workspace / ".git").is_dir():
    if env["INPUT_CLEAN"].lower() == "true":
        git("clean", "-ffdx")
        git("reset", "--hard", "HEAD", check=False)
    git("remote", "set-url", "origin", url)
else:
    git("init", "-q")
    git("remote", "add", "origin", url)
git("config", "--global", "--add", "safe.directory", str(workspace))
fetch = ["-c", f"http.{env['GITHUB_SERVER_URL']}/.extraheader={auth}", "fetch",
         "--no-tags", "--prune", "--no-recurse-submodules"]
if depth > 0:
    fetch.append(f"--depth={depth}")
target = ""
if depth == 0:   # all history, branches and tags (README: "fetch-depth: 0 for all history")
    git(*fetch, "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
if commit and ref.startswith("refs/heads/"):
    # the event's branch at the event's commit, checked out as that branch (ref-helper's
    # getCheckoutInfo: `+<sha>:refs/remotes/origin/<branch>`, then `checkout -B <branch>`)
    branch = ref.removeprefix("refs/heads/")
    git(*fetch, "origin", f"+{commit}:refs/remotes/origin/{branch}")
    git("checkout", "-q", "-B", branch, f"refs/remotes/origin/{branch}")
    target = "HEAD"
elif commit and ref.startswith("refs/tags/"):
    git(*fetch, "origin", f"+{ref}:{ref}")
    target = ref
elif commit:
    git(*fetch, "origin", commit)
    target = commit
elif ref.startswith("refs/heads/") or (ref and not ref.startswith("refs/")):
    branch = ref.removeprefix("refs/heads/")
    # a bare name is a branch first, then a tag (as the action's ref-helper resolves it)
    probe = git("ls-remote", "origin", f"refs/heads/{branch}", f"refs/tags/{branch}")
    if f"refs/heads/{branch}" in probe:
        git(*fetch, "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
        git("checkout", "-q", "-B", branch, f"refs/remotes/origin/{branch}")
        target = "HEAD"
    elif probe:
        git(*fetch, "origin", f"+refs/tags/{branch}:refs/tags/{branch}")
        target = f"refs/tags/{branch}"
    else:
        sys.exit(f"::error::A branch or tag with the name '{branch}' could not be found")
else:
    target = ref.replace("refs/", "refs/remotes/", 1) if ref.startswith("refs/pull/") else ref
    git(*fetch, "origin", f"+{ref}:{target}")
if target != "HEAD":
    git("checkout", "-q", "--detach", target)
if env["INPUT_PERSIST_CREDENTIALS"].lower() == "true":
    git("config", "--local", f"http.{env['GITHUB_SERVER_URL']}/.extraheader", auth)
head = git("rev-parse", "HEAD")
with open(env["GITHUB_OUTPUT"], "a") as fh:
    fh.write(f"ref={ref}\ncommit={head}\n")
print(f"checkout: {repository} {ref or '(event)'} -> {head} (fetch-depth {depth})")
