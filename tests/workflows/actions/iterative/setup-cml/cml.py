#!/usr/bin/env python3
"""`cml comment create|update` and `cml runner launch` of CML v0.20.6 on GitHub, for the harness
(no network here). `cml runner launch`: see `runner_launch` below.

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


RUNNER_DOCS = "https://cml.dev/doc/ref/runner"
GENERIC_DOCS = "https://cml.dev/doc/ref"
REGISTRATION_DOCS = ("https://docs.github.com/en/rest/actions/self-hosted-runners"
                     "#create-a-registration-token-for-a-repository")
CLOUDS = ("aws", "azure", "gcp", "kubernetes")
# Which credentials each cloud's provider reads from the environment (CML starts instances with
# the iterative Terraform provider: https://cml.dev/doc/self-hosted-runners#cloud-compute-resource-credentials).
# AWS also takes a web identity (what aws-actions/configure-aws-credentials exports after OIDC).
CLOUD_CREDENTIALS = {
    "aws": (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
            ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")),
    "gcp": (("GOOGLE_APPLICATION_CREDENTIALS",), ("GOOGLE_APPLICATION_CREDENTIALS_DATA",)),
    "azure": (("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID",
               "AZURE_TENANT_ID"),),
    "kubernetes": (("KUBERNETES_CONFIGURATION",),),
}
# The stand-in's cloud: instances are records in this folder (the harness mounts it into every
# job, as every job of a run reaches the same cloud account); the `aws` double reads it too.
FAKE_CLOUD = Path(env.get("FAKE_CLOUD_DIR", "/opt/fake-cloud"))


class StrictParser(argparse.ArgumentParser):
    """yargs in strict mode, as CML parses: an unknown option is an error, never ignored."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.exit(f"{self.prog}: {message} (options: {RUNNER_DOCS}, {GENERIC_DOCS})")


def runner_parser() -> StrictParser:
    """Exactly the options of `cml runner launch` in CML's command reference (RUNNER_DOCS) and
    the generic ones (GENERIC_DOCS); `--flag=value` and `--flag value` both parse, as in yargs."""
    p = StrictParser(prog="cml runner launch", allow_abbrev=False, add_help=False)
    for name in ("--repo", "--token", "--log", "--driver", "--name", "--cloud-type",
                 "--cloud-gpu", "--cloud-region", "--cloud-permission-set",
                 "--cloud-startup-script", "--cloud-ssh-private", "--cloud-aws-security-group",
                 "--cloud-aws-subnet"):
        p.add_argument(name)
    p.add_argument("--labels", default="cml")
    p.add_argument("--idle-timeout", type=int, default=300)
    p.add_argument("--cloud", choices=CLOUDS)
    p.add_argument("--cloud-hdd-size", type=int)
    p.add_argument("--cloud-spot-price", type=float)
    for flag in ("--no-retry", "--single", "--reuse", "--reuse-idle", "--cloud-spot"):
        p.add_argument(flag, action="store_true")
    for name in ("--cloud-metadata", "--cloud-kubernetes-node-selector", "--docker-volumes"):
        p.add_argument(name, action="append", default=[])
    return p


def runner_launch(argv: list[str]) -> int:
    """`cml runner launch` with --cloud: check the options and credentials, ask GitHub for a
    runner registration token with the PAT (REPO_TOKEN: "a personal access token with the `repo`
    scope", https://cml.dev/doc/self-hosted-runners#personal-access-token; GitHub answers only
    a token with administration write, REGISTRATION_DOCS), start an instance in the stand-in
    cloud tagged with --cloud-metadata, and register its runner (name, labels, ephemeral with
    --single) the way the runner's own `config.sh --url --token --labels --name --ephemeral`
    does on the instance. Without --cloud the real command starts a runner on this machine,
    which the harness does not model: refused."""
    args = runner_parser().parse_args(argv)
    if args.cloud is None:
        sys.exit("cml runner launch: the stand-in starts cloud runners only (--cloud)")
    if args.driver not in (None, "github"):
        sys.exit(f"cml runner launch: --driver={args.driver}: the stand-in is GitHub's")
    token = (args.token or env.get("REPO_TOKEN") or env.get("repo_token")
             or env.get("GITHUB_TOKEN"))
    if not token:
        sys.exit("Error: token not found (--token or REPO_TOKEN, " + GENERIC_DOCS + ")")
    if args.idle_timeout < -1 or args.idle_timeout == 0:
        sys.exit(f"cml runner launch: --idle-timeout={args.idle_timeout}: seconds, or -1")
    if not args.cloud_type:
        sys.exit("cml runner launch: --cloud-type is required with --cloud")
    if args.cloud_spot_price is not None and not args.cloud_spot:
        sys.exit("cml runner launch: --cloud-spot-price needs --cloud-spot")
    metadata = {}
    for pair in args.cloud_metadata:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"cml runner launch: --cloud-metadata={pair!r}: expected key=value")
        metadata[key] = value
    if args.cloud_startup_script is not None:
        import base64
        import binascii
        try:
            base64.b64decode(args.cloud_startup_script, validate=True)
        except binascii.Error:
            sys.exit("cml runner launch: --cloud-startup-script: not Base64")
    labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if not labels:
        sys.exit("cml runner launch: --labels: at least one label")
    if not any(all(env.get(name) for name in names) for names in CLOUD_CREDENTIALS[args.cloud]):
        wanted = " or ".join("+".join(names) for names in CLOUD_CREDENTIALS[args.cloud])
        sys.exit(f"cml runner launch: no {args.cloud} credentials in the environment ({wanted})")
    web_identity = env.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if args.cloud == "aws" and web_identity and not Path(web_identity).read_text().strip():
        sys.exit(f"cml runner launch: {web_identity} holds no web identity token")
    repo = args.repo or f"{env.get('GITHUB_SERVER_URL', '')}/{env.get('GITHUB_REPOSITORY', '')}"
    owner_repo = "/".join(repo.removesuffix(".git").rstrip("/").split("/")[-2:])
    registration = api("POST", f"/repos/{owner_repo}/actions/runners/registration-token", token)
    name = args.name or f"cml-{os.urandom(4).hex()}"
    FAKE_CLOUD.mkdir(parents=True, exist_ok=True)
    instance = {"id": f"i-{os.urandom(8).hex()}", "cloud": args.cloud, "type": args.cloud_type,
                "region": args.cloud_region or "us-west", "spot": args.cloud_spot,
                "gpu": args.cloud_gpu, "hdd_size": args.cloud_hdd_size, "tags": metadata,
                "name": name, "state": "running", "idle_timeout": args.idle_timeout,
                "single": args.single, "startup_script": args.cloud_startup_script,
                "credentials": "web-identity" if web_identity else "keys"}
    (FAKE_CLOUD / f"{instance['id']}.json").write_text(json.dumps(instance))
    runner = api("POST", "/_runner/register", registration["token"],
                 {"name": name, "labels": labels, "ephemeral": args.single,
                  "instance": instance["id"]})
    print(json.dumps({"level": "info", "message": "runner started", "name": name,
                      "labels": labels, "instance": instance["id"], "runner": runner["id"]}))
    return 0


def main() -> int:
    if sys.argv[1:3] == ["runner", "launch"]:
        return runner_launch(sys.argv[3:])
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
