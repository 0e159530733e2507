#!/usr/bin/env python3
"""`cml comment create|update` of CML v0.20.6 on GitHub, for the harness (no network here).

Behaviour from iterative/cml v0.20.6: bin/cml/comment/create.js (options), src/cml.js
commentCreate, src/watermark.js, src/commenttarget.js and src/drivers/github.js:
- the report gets a watermark appended: "\n\n![](https://cml.dev/watermark.png#SHA "CML
  watermark LABEL")", LABEL from --watermark-title ({workflow}/{run} replaced; _ * [ < escaped);
  SHA is the trigger commit (pull_request: the PR head; otherwise GITHUB_SHA);
- --target pr/N | issue/N | commit/SHA | pr | auto (pr from the event, else the first open pull
  request of the commit, else: auto -> commit comment, pr -> error);
- update: list the target's comments (octokit issues.listComments, one page: GitHub's default 30,
  oldest first), take the LAST one carrying this watermark (the commit SHA in it is ignored) and
  update it; else create one. Prints the comment's html_url.
- --publish (default true) uploads local images to asset.cml.dev: not reachable here, so a
  report with local images fails unless --no-publish.
Token: --token, else REPO_TOKEN, repo_token, GITHUB_TOKEN. The real CML derives the API from the
repository URL (github.com -> api.github.com); here it is GITHUB_API_URL (the local GitHub).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

WATERMARK_IMAGE = "https://cml.dev/watermark.png"
env = os.environ


def title(label: str) -> str:
    text = f"CML watermark {label}".strip()
    for char, escaped in (("_", "\\_"), ("*", "\\*"), ("[", "\\["), ("<", "\\<")):
        text = text.replace(char, escaped)
    return text


def api(method: str, path: str, token: str, body: dict | None = None):
    req = urllib.request.Request(f"{env['GITHUB_API_URL']}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"token {token}",
                                          "Accept": "application/vnd.github+json"})
    try:
        return json.loads(urllib.request.urlopen(req).read() or b"null")
    except urllib.error.HTTPError as exc:
        sys.exit(f"HttpError: {exc.read().decode()[:500]} ({exc.code})")


def main() -> int:
    parser = argparse.ArgumentParser(prog="cml")
    parser.add_argument("group", choices=["comment"])
    parser.add_argument("command", choices=["create", "update"])
    parser.add_argument("markdown_file")
    parser.add_argument("--target", default="auto")
    parser.add_argument("--watermark-title", default="")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--repo", default="")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    token = (args.token or env.get("REPO_TOKEN") or env.get("repo_token")
             or env.get("GITHUB_TOKEN"))
    if not token:
        sys.exit("Error: token not found")
    repo = args.repo or subprocess.run(["git", "config", "--get", "remote.origin.url"],
                                       capture_output=True, text=True).stdout.strip()
    owner_repo = "/".join(repo.removesuffix(".git").rstrip("/").split("/")[-2:])
    event = {}
    if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    name = env.get("GITHUB_EVENT_NAME", "")
    sha = (event["pull_request"]["head"]["sha"] if name == "pull_request"
           else env.get("GITHUB_SHA", ""))
    report = Path(args.markdown_file).read_text()
    if args.publish and re.search(r"!\[[^\]]*\]\((?!https?:|data:)[^)]+\)", report):
        sys.exit("Error: publishing local images needs https://asset.cml.dev (not reachable "
                 "here); use --no-publish")
    label = args.watermark_title.replace("{workflow}", env.get("GITHUB_WORKFLOW", "")).replace(
        "{run}", env.get("GITHUB_RUN_ID", ""))
    mark_title = title(label)
    report = f'{report}\n\n![]({WATERMARK_IMAGE}#{sha} "{mark_title}")'
    pattern = re.compile(rf'!\[\]\({re.escape(WATERMARK_IMAGE)}#[0-9a-fA-F]+ '
                         rf'"{re.escape(mark_title)}"\)')

    target = args.target
    if target.lower() in ("pr", "auto"):
        number = event.get("pull_request", {}).get("number") if name in (
            "pull_request", "pull_request_target") else None
        if number is None:
            prs = api("GET", f"/repos/{owner_repo}/commits/{sha}/pulls?state=open", token)
            number = prs[0]["html_url"].split("/")[-1] if prs else None
        if number is not None:
            kind, ident = "pr", str(number)
        elif target.lower() == "auto":
            kind, ident = "commit", sha
        else:
            sys.exit(f'Error: PR for commit sha "{sha}" not found')
    else:
        kind, _, ident = target.partition("/")
        if not ident or kind.lower() not in ("pr", "issue", "commit"):
            sys.exit(f'Error: unsupported comment target "{target}"')
        kind = kind.lower()
    if kind == "commit":
        list_path = f"/repos/{owner_repo}/commits/{ident}/comments"
        edit_path, create_path = f"/repos/{owner_repo}/comments/{{}}", list_path
    else:
        list_path = f"/repos/{owner_repo}/issues/{ident}/comments"
        edit_path = f"/repos/{owner_repo}/issues/comments/{{}}"
        create_path = list_path
    if args.command == "update":
        comments = api("GET", list_path, token)      # one page, as CML's prComments does
        for comment in reversed(comments):
            if pattern.search(comment["body"] or ""):
                print(api("PATCH", edit_path.format(comment["id"]), token,
                          {"body": report})["html_url"])
                return 0
    print(api("POST", create_path, token, {"body": report})["html_url"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
