"""A small fake of GitHub's REST API for the audit trail: which pull request merged a commit,
and its reviews.

- GET /repos/{owner}/{repo}/commits/{sha}/pulls
  (https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit):
  the pull requests whose merge commit is `sha` (an empty list for a commit pushed directly).
- GET /repos/{owner}/{repo}/pulls/{number}/reviews
  (https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request): reviews in
  chronological order, `per_page`/`page` pagination; 404 for an unknown pull request.
- 401 "Bad credentials" without the token.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback_http import LoopbackServer


class FakePulls(LoopbackServer):
    """Pull requests (number -> merge commit) and their reviews ((login, state) in order)."""

    def __init__(self, repo: str, token: str = "token") -> None:
        self.repo, self.token = repo, token
        self.pulls: dict[int, dict[str, Any]] = {}
        self.reviews: dict[int, list[tuple[str, str]]] = {}

    def merge(self, number: int, sha: str, reviews: list[tuple[str, str]]) -> None:
        self.pulls[number] = {"number": number, "state": "closed", "merge_commit_sha": sha,
                              "merged_at": "2026-11-30T12:00:00Z",
                              "html_url": f"https://github.com/{self.repo}/pull/{number}"}
        self.reviews[number] = reviews

    def handle(self, path: str, token: str | None) -> tuple[int, Any]:
        if token != self.token:
            return 401, {"message": "Bad credentials"}
        url = urlsplit(path)
        query = parse_qs(url.query)
        prefix = f"/repos/{self.repo}"
        if m := re.fullmatch(rf"{prefix}/commits/([0-9a-f]{{40}})/pulls", url.path):
            return 200, [p for p in self.pulls.values() if p["merge_commit_sha"] == m[1]]
        if m := re.fullmatch(rf"{prefix}/pulls/(\d+)/reviews", url.path):
            number = int(m[1])
            if number not in self.pulls:
                return 404, {"message": "Not Found"}
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            items = [{"id": i + 1, "user": {"login": login}, "state": state,
                      "submitted_at": f"2026-11-30T10:{i:02d}:00Z"}
                     for i, (login, state) in enumerate(self.reviews[number])]
            return 200, items[(page - 1) * per_page: page * per_page]
        return 404, {"message": "Not Found"}

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                status, doc = fake.handle(self.path, auth.split(" ", 1)[1] if " " in auth
                                          else None)
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return self.serve(Handler)
