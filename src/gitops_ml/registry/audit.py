"""The audit trail: for each registered version, who approved it, which gates it passed, its data
hash and image digest, and the run that built it; read from the registration tags, never typed.

`python -m pipelines.register apply` writes the `governance` part of the record (approvals from
GitHub's API, gate results from the main run's report, the training data's hash from
model.json); `gitops-ml registry audit` and the model card's Governance section read it back.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.registry.state import Registry


def governance(meta: dict[str, Any], report: dict[str, Any] | None,
               pull: dict[str, Any] | None) -> dict[str, Any]:
    """The governance part of a registration record."""
    gates = [{"gate": g.get("gate"), "status": g.get("status"), "blocking": g.get("blocking")}
             for g in (report or {}).get("gates") or []]
    return {"data_sha256": (meta.get("training_data") or {}).get("sha256"),
            "gates": gates, **(pull or {})}


def _get(api_url: str, path: str, token: str) -> Any:
    request = urllib.request.Request(f"{api_url.rstrip('/')}{path}", headers={
        "Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise UserError(f"GET {path}: HTTP {exc.code}: "
                        f"{json.loads(exc.read() or b'{}').get('message', '')}") from None
    except urllib.error.URLError as exc:
        raise UserError(f"GET {path}: cannot reach {api_url} ({exc.reason})") from None


def approvals(api_url: str, repo: str, sha: str, token: str) -> dict[str, Any]:
    """The merged pull request that brought `sha` and who approved it (latest review per user).

    https://docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit
    https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request
    """
    pulls = [p for p in _get(api_url, f"/repos/{repo}/commits/{sha}/pulls", token)
             if p.get("merged_at")]
    if not pulls:
        return {"pull_request": None, "approved_by": []}
    number = pulls[0]["number"]
    latest: dict[str, str] = {}
    page = 1
    while True:
        reviews = _get(api_url, f"/repos/{repo}/pulls/{number}/reviews?per_page=100&page={page}",
                       token)
        for review in reviews:   # chronological; a later review replaces an earlier one
            if review.get("state") in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[review["user"]["login"]] = review["state"]
        if len(reviews) < 100:
            break
        page += 1
    return {"pull_request": number, "pull_request_url": pulls[0].get("html_url"),
            "approved_by": sorted(u for u, s in latest.items() if s == "APPROVED")}


def rows(registry: Registry) -> list[dict[str, Any]]:
    """One row per registered version, newest first."""
    out = []
    for v in reversed(registry.versions.values()):
        rec = v.record
        gov = rec.governance if rec else {}
        build = rec.build if rec else {}
        gates = gov.get("gates") or []
        out.append({
            "version": v.name, "commit": v.commit,
            "registered": dt.datetime.fromtimestamp(v.created, dt.UTC).strftime("%Y-%m-%d"),
            "registered_by": v.tagger or None,
            "pull_request": gov.get("pull_request"), "approved_by": gov.get("approved_by"),
            "gates_passed": sum(g.get("status") == "pass" for g in gates) if gates else None,
            "gates_total": len(gates) if gates else None,
            "gates_failed": [g["gate"] for g in gates if g.get("status") in ("fail", "error")],
            "data_sha256": gov.get("data_sha256"), "image": v.image,
            "attested": build.get("attested"), "run_url": build.get("run_url"),
        })
    return out


def _short(value: str | None, n: int = 12) -> str:
    if not value:
        return "—"
    digest = value.rpartition("@")[2].removeprefix("sha256:")
    return f"`{digest[:n]}`"


def markdown(table: list[dict[str, Any]]) -> str:
    """The audit trail as a Markdown table ('' when nothing is registered)."""
    if not table:
        return ""
    lines = ["| Version | Registered | PR | Approved by | Gates | Data sha256 | Image digest "
             "| Attested |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in table:
        gates = "—" if r["gates_total"] is None else \
            f"{r['gates_passed']}/{r['gates_total']} passed" + \
            (f" (failed: {', '.join(r['gates_failed'])})" if r["gates_failed"] else "")
        approved = ("—" if r["approved_by"] is None else
                    ", ".join(f"@{u}" for u in r["approved_by"]) or "nobody")
        pr = f"#{r['pull_request']}" if r["pull_request"] else "—"
        attested = {True: "yes", False: "**no**", None: "—"}[r["attested"]]
        lines.append(f"| {r['version']} | {r['registered']} | {pr} | {approved} | {gates} | "
                     f"{_short(r['data_sha256'])} | {_short(r['image'])} | {attested} |")
    return "\n".join(lines) + "\n"
