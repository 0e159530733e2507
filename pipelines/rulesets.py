"""Apply the repository rulesets in .github/rulesets/*.json to GitHub, creating or updating each.

    GH_TOKEN="$(gh auth token)" uv run python -m pipelines.rulesets apply --repo OWNER/REPO
    uv run python -m pipelines.rulesets apply --repo OWNER/REPO --dry-run   # print the plan

A ruleset is matched to an existing one by name: a file whose name exists is updated in place
(PUT /repos/{owner}/{repo}/rulesets/{id}), any other is created (POST /repos/{owner}/{repo}/
rulesets); so running it twice changes nothing and never duplicates a ruleset. The token needs
the repository's Administration write permission (a repository admin's `gh auth token` has it).
Endpoints: https://docs.github.com/en/rest/repos/rules. The tag ruleset's patterns name the
artifact `model`; they are rewritten to the artifact dvc.yaml declares. Exit 2 on bad input or
an API refusal, with GitHub's own message.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.registry import artifact

API_VERSION = "2022-11-28"
TEMPLATE_ARTIFACT = "model"
TARGETS = ("branch", "tag", "push")
ENFORCEMENTS = ("disabled", "active", "evaluate")


@dataclass(frozen=True)
class Action:
    """What applying one ruleset file does: create it, or update ruleset `ruleset_id`."""

    path: Path
    name: str
    method: str                # POST | PUT
    ruleset_id: int | None
    body: dict[str, Any]


def load(path: Path, artifact_name: str) -> dict[str, Any]:
    """One ruleset file, checked for the fields GitHub requires; tag patterns renamed."""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise UserError(f"{path}: must be a JSON object (a ruleset)")
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise UserError(f"{path}: name: required")
    if body.get("enforcement") not in ENFORCEMENTS:
        raise UserError(f"{path}: enforcement: expected one of {', '.join(ENFORCEMENTS)}, "
                        f"got {body.get('enforcement')!r}")
    if body.get("target", "branch") not in TARGETS:
        raise UserError(f"{path}: target: expected one of {', '.join(TARGETS)}, "
                        f"got {body.get('target')!r}")
    rules = body.get("rules")
    if not isinstance(rules, list) or not all(isinstance(r, dict) and "type" in r for r in rules):
        raise UserError(f"{path}: rules: expected a list of objects with a `type`")
    if body.get("target") == "tag" and artifact_name != TEMPLATE_ARTIFACT:
        ref = body.get("conditions", {}).get("ref_name", {})
        for key in ("include", "exclude"):
            ref[key] = [p.replace(f"refs/tags/{TEMPLATE_ARTIFACT}@", f"refs/tags/{artifact_name}@")
                         .replace(f"refs/tags/{TEMPLATE_ARTIFACT}#", f"refs/tags/{artifact_name}#")
                        for p in ref.get(key, [])]
    return body


class GitHub:
    """The few REST calls this needs, with GitHub's error message on failure."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}{path}", data=data, method=method,
            headers={"Accept": "application/vnd.github+json",
                     "Authorization": f"Bearer {self.token}",
                     "X-GitHub-Api-Version": API_VERSION,
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise UserError(f"{method} {path}: HTTP {exc.code}: {_message(exc.read())}") from None
        except urllib.error.URLError as exc:
            raise UserError(f"{method} {path}: cannot reach {self.api_url} ({exc.reason})"
                            ) from None
        return json.loads(raw) if raw else None

    def rulesets(self, repo: str) -> list[dict[str, Any]]:
        """Every ruleset of the repository (paginated, 100 a page)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.call("GET", f"/repos/{repo}/rulesets?per_page=100&page={page}")
            found.extend(batch)
            if len(batch) < 100:
                return found
            page += 1


def _message(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:200]
    errors = doc.get("errors") or []
    detail = "; ".join(e if isinstance(e, str) else json.dumps(e) for e in errors)
    return f"{doc.get('message', '')}{': ' + detail if detail else ''}"


def plan(github: GitHub, repo: str, bodies: list[tuple[Path, dict[str, Any]]]) -> list[Action]:
    """Create or update, per file, matching existing rulesets by name."""
    names = [b["name"] for _, b in bodies]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise UserError(f"--dir: two files define the ruleset {duplicate!r}")
    existing = {r["name"]: r["id"] for r in github.rulesets(repo)}
    return [Action(p, b["name"], "PUT" if b["name"] in existing else "POST",
                   existing.get(b["name"]), b) for p, b in bodies]


def apply(github: GitHub, repo: str, actions: list[Action]) -> list[str]:
    """Run the plan; one line per ruleset saying what was done."""
    done = []
    for a in actions:
        if a.method == "PUT":
            result = github.call("PUT", f"/repos/{repo}/rulesets/{a.ruleset_id}", a.body)
            done.append(f"updated ruleset {result['id']} {a.name!r} from {a.path}")
        else:
            result = github.call("POST", f"/repos/{repo}/rulesets", a.body)
            done.append(f"created ruleset {result['id']} {a.name!r} from {a.path}")
    return done


def _token(env: dict[str, str]) -> str:
    token = env.get("GH_TOKEN") or env.get("GITHUB_TOKEN")
    if token:
        return token
    if shutil.which("gh"):
        out = subprocess.run(["gh", "auth", "token"], capture_output=True, text=True,
                             timeout=30, check=False)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    raise UserError("GH_TOKEN: not set (export GH_TOKEN=\"$(gh auth token)\" as a repository "
                    "admin)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.rulesets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("apply", help="create or update every ruleset in --dir")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"),
                   help="OWNER/REPO (default: $GITHUB_REPOSITORY)")
    p.add_argument("--dir", type=Path, default=Path(".github/rulesets"))
    p.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"),
                   help="declares the artifact whose tags the tag ruleset protects")
    p.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"))
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    return parser


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ if env is None else env)
    try:
        if not args.repo or args.repo.count("/") != 1:
            raise UserError(f"--repo: expected OWNER/REPO, got {args.repo!r}")
        files = sorted(args.dir.glob("*.json"))
        if not files:
            raise UserError(f"--dir: no *.json rulesets in {args.dir}")
        name, _ = artifact.declared(args.dvc_yaml, None)
        bodies = [(f, load(f, name)) for f in files]
        github = GitHub(args.api_url, _token(env))
        actions = plan(github, args.repo, bodies)
        if args.dry_run:
            for a in actions:
                verb = "create" if a.method == "POST" else f"update ruleset {a.ruleset_id}"
                print(f"would {verb} {a.name!r} from {a.path}")
            return 0
        for line in apply(github, args.repo, actions):
            print(line)
    except UserError as exc:
        print(f"rulesets: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
