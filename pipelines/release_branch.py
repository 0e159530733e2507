"""Publish a stage's rendered release to branch deploy/<stage>: the `deploy/` tree only.

    python3 -m pipelines.release_branch STAGE

Reads GH_TOKEN, GITHUB_SERVER_URL and GITHUB_REPOSITORY (as pipelines.gitpush).

The branch Argo CD or Flux watch (path deploy/overlays/<stage>) holds `deploy/` as the default
branch's HEAD has it after the deploy hook's commit, and nothing else: one commit per release on
top of the branch's previous release, so `git log deploy/<stage>` is the stage's release history.
Not the default branch's history: GitHub refuses a push with the workflow token that brings
commits changing `.github/workflows/` into a branch ("refusing to allow a GitHub App to create or
update workflow ... without `workflows` permission",
https://docs.github.com/en/apps/creating-github-apps/registering-a-github-app/choosing-permissions-for-a-github-app#choosing-permissions-for-git-access),
so a branch that followed the default branch would refuse the first release after any workflow
change. A branch written by an earlier version of this template (the whole repository) is
replaced once, by a release commit without parent (force-pushed). Standard library only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from pipelines.gitpush import authenticated, push_command

DEPLOY_DIR = "deploy"


def git(*argv: str, env: Mapping[str, str] | None = None, check: bool = True,
        stdin: str | None = None) -> str:
    done = subprocess.run(["git", *argv], capture_output=True, text=True, check=False,
                          env=dict(env) if env is not None else None, input=stdin, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {argv[0]} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-1000:]}")
    return done.stdout.strip()


def release_tree(head: str = "HEAD") -> str:
    """A tree holding only `deploy/` as `head` has it."""
    subtree = git("rev-parse", "--verify", "--quiet", f"{head}:{DEPLOY_DIR}", check=False)
    if not subtree:
        raise RuntimeError(f"{head} has no {DEPLOY_DIR}/ directory: nothing to release")
    return git("mktree", stdin=f"040000 tree {subtree}\t{DEPLOY_DIR}\n")


def previous_release(stage: str, env: Mapping[str, str]) -> str | None:
    """The branch's tip when it holds releases only; None when it is missing or old-style."""
    refspec = f"+refs/heads/deploy/{stage}:refs/release-branch/previous"
    url, auth = authenticated(env)
    done = subprocess.run(["git", "fetch", "--quiet", url, refspec], capture_output=True,
                          text=True, env=auth, check=False, timeout=120)
    if done.returncode != 0:
        if "couldn't find remote ref" in done.stderr:
            return None                               # the stage's first release
        raise RuntimeError(f"git fetch deploy/{stage} failed: {done.stderr.strip()[-1000:]}")
    tip = git("rev-parse", "refs/release-branch/previous")
    names = git("ls-tree", "--name-only", tip).split()
    return tip if names == [DEPLOY_DIR] else None


def publish(stage: str, env: Mapping[str, str]) -> str:
    """Commit the release tree on top of the stage's previous release and push it."""
    tree = release_tree()
    parent = previous_release(stage, env)
    if parent is not None and git("rev-parse", f"{parent}^{{tree}}") == tree:
        return f"deploy/{stage} already holds this release ({parent[:12]})"
    message = git("log", "-1", "--format=%B", "HEAD")
    commit = git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", message,
                 env=env)
    cmd, auth = push_command([f"{commit}:refs/heads/deploy/{stage}"], env,
                             force=parent is None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=auth, check=False,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"git push deploy/{stage} failed: "
                           f"{(done.stderr or done.stdout).strip()[-1500:]}")
    return f"deploy/{stage} -> {commit[:12]}" + ("" if parent else " (first release commit)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pipelines.release_branch",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage")
    args = parser.parse_args(argv)
    try:
        print(f"release_branch: {publish(args.stage, os.environ)}")
    except (RuntimeError, ValueError) as exc:
        print(f"release_branch: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
