"""A small fake of GitHub's REST API: the repository rulesets endpoints, as documented.

Follows https://docs.github.com/en/rest/repos/rules (API version 2022-11-28):
- GET  /repos/{owner}/{repo}/rulesets            -> 200, a list of ruleset summaries
- POST /repos/{owner}/{repo}/rulesets            -> 201 the ruleset; 422 "Validation Failed"
- GET  /repos/{owner}/{repo}/rulesets/{id}       -> 200; 404 "Not Found"
- PUT  /repos/{owner}/{repo}/rulesets/{id}       -> 200 the ruleset; 404; 422
and the common errors (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api):
401 "Bad credentials" without a valid token, 404 for a repository the token cannot see, 403 when
the token lacks admin rights. The 422 checks are the ones the docs' body schema makes: `name`
and `enforcement` required, enumerated `target`/`enforcement`/rule `type`, required rule
parameters, and ruleset names unique within the repository (GitHub answers "Name must be
unique").
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback_http import LoopbackServer

RULE_TYPES = {
    "creation", "update", "deletion", "required_linear_history", "merge_queue",
    "required_deployments", "required_signatures", "pull_request", "required_status_checks",
    "non_fast_forward", "commit_message_pattern", "commit_author_email_pattern",
    "committer_email_pattern", "branch_name_pattern", "tag_name_pattern", "file_path_restriction",
    "max_file_path_length", "file_extension_restriction", "max_file_size", "workflows",
    "code_scanning",
}
REQUIRED_PARAMETERS = {
    "pull_request": {"dismiss_stale_reviews_on_push", "require_code_owner_review",
                     "require_last_push_approval", "required_approving_review_count",
                     "required_review_thread_resolution"},
    "required_status_checks": {"required_status_checks", "strict_required_status_checks_policy"},
}
ACTOR_TYPES = {"Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey"}


class FakeGitHub(LoopbackServer):
    """State of one fake GitHub: repositories, their rulesets, and the tokens it accepts."""

    def __init__(self, repo: str, token: str = "admin-token", *, read_only_token: str = "") -> None:
        self.repo = repo
        self.token = token
        self.read_only_token = read_only_token
        self.rulesets: dict[int, dict[str, Any]] = {}
        self.next_id = 1000
        self.requests: list[tuple[str, str]] = []

    # -- the API ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, token: str | None, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        if token not in (self.token, self.read_only_token) or not token:
            return 401, {"message": "Bad credentials",
                         "documentation_url": "https://docs.github.com/rest"}
        path = path.split("?", 1)[0]
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/rulesets(?:/(\d+))?", path)
        if not match or match[1] != self.repo:
            return 404, {"message": "Not Found"}
        ruleset_id = int(match[2]) if match[2] else None
        if method == "GET" and ruleset_id is None:
            return 200, [self._summary(r) for r in self.rulesets.values()]
        if method == "GET":
            return (200, self.rulesets[ruleset_id]) if ruleset_id in self.rulesets else \
                (404, {"message": "Not Found"})
        if token != self.token:
            return 403, {"message": "Resource not accessible by personal access token"}
        if method == "POST" and ruleset_id is None:
            problem = self._invalid(body, None)
            if problem:
                return 422, {"message": "Validation Failed", "errors": [problem]}
            rid, self.next_id = self.next_id, self.next_id + 1
            self.rulesets[rid] = self._stored(rid, body)
            return 201, self.rulesets[rid]
        if method == "PUT" and ruleset_id is not None:
            if ruleset_id not in self.rulesets:
                return 404, {"message": "Not Found"}
            merged = {**self.rulesets[ruleset_id], **body}
            problem = self._invalid(merged, ruleset_id)
            if problem:
                return 422, {"message": "Validation Failed", "errors": [problem]}
            self.rulesets[ruleset_id] = self._stored(ruleset_id, merged)
            return 200, self.rulesets[ruleset_id]
        return 404, {"message": "Not Found"}

    def _invalid(self, body: Any, own_id: int | None) -> str | None:
        if not isinstance(body, dict):
            return "Invalid request body"
        if not body.get("name"):
            return "Invalid property /name: is required"
        if body.get("enforcement") not in ("disabled", "active", "evaluate"):
            return f"Invalid property /enforcement: `{body.get('enforcement')}` is not a valid enum"
        if body.get("target", "branch") not in ("branch", "tag", "push"):
            return f"Invalid property /target: `{body.get('target')}` is not a valid enum"
        for other_id, other in self.rulesets.items():
            if other_id != own_id and other["name"] == body["name"]:
                return "Name must be unique"
        for i, rule in enumerate(body.get("rules") or []):
            if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES:
                return f"Invalid property /rules/{i}: data matches no possible input"
            given = set(rule.get("parameters") or {})
            missing = REQUIRED_PARAMETERS.get(rule["type"], set()) - given
            if missing:
                return f"Invalid property /rules/{i}/parameters: missing {sorted(missing)[0]}"
        for i, actor in enumerate(body.get("bypass_actors") or []):
            if actor.get("actor_type") not in ACTOR_TYPES:
                return f"Invalid property /bypass_actors/{i}/actor_type: not a valid enum"
        return None

    def _stored(self, rid: int, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "id": rid, "source_type": "Repository", "source": self.repo,
                "target": body.get("target", "branch"),
                "bypass_actors": body.get("bypass_actors", []),
                "conditions": body.get("conditions", {}), "rules": body.get("rules", [])}

    @staticmethod
    def _summary(r: dict[str, Any]) -> dict[str, Any]:
        return {k: r[k] for k in ("id", "name", "target", "source_type", "source", "enforcement")}

    # -- serving -----------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, doc = 400, {"message": "Problems parsing JSON"}
                else:
                    auth = self.headers.get("Authorization", "")
                    token = auth.split(" ", 1)[1] if " " in auth else None
                    status, doc = fake.handle(self.command, self.path, token, body)
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return self.serve(Handler)
