"""pipelines.comment renders the PR comment from the validated JSON only (no Docker needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipelines import comment

PROJECT = Path(__file__).resolve().parents[2]
TEMPLATE = (PROJECT / "pipelines" / "pr_comment.md").read_text()
SHA = "c" * 40


def _report(**overrides) -> dict:
    data = {"schema": comment.SCHEMA, "verdict": "fail", "first_pr": False,
            "base": {"ref": "main", "sha": "a" * 40}, "head": {"sha": SHA},
            "pipeline": {"state": "reproduced"},
            "metrics": [{"name": "roc_auc", "base": 0.99, "head": 0.9, "abs_delta": -0.09,
                         "rel_delta": -0.09}],
            "params": [{"key": "gates.floors.roc_auc"}],
            "gates": [{"gate": "roc_auc floor", "key": "gates.floors.roc_auc", "rule": "≥ 0.95",
                       "value": "0.9", "status": "fail", "blocking": True,
                       "detail": "0.9000 is below the floor 0.95"}]}
    return data | overrides


def test_comment_render_names_the_blocking_gate_and_why() -> None:
    body = comment.render(_report(), TEMPLATE, "https://github.com/o/r/actions/runs/1", SHA)
    assert body.startswith("## ❌ Model check failed\n")
    assert "**Verdict:** blocked by `roc_auc floor`." in body
    assert ("| `roc_auc floor` | `≥ 0.95` | `0.9` | ❌ | `0.9000 is below the floor 0.95` |"
            in body)
    assert "| `roc_auc` | 0.9900 | 0.9000 | -0.0900 |" in body
    assert "[this workflow run](https://github.com/o/r/actions/runs/1)" in body


def test_comment_render_keeps_hostile_strings_inside_code_spans() -> None:
    hostile = "x` @org/team <img src=x onerror=alert(1)> [a](https://evil.example) | |\n## ok"
    data = _report(gates=[{"gate": hostile, "key": "k", "rule": hostile, "value": hostile,
                           "status": "fail", "blocking": True, "detail": hostile}],
                   metrics=[{"name": hostile, "base": None, "head": 1.0, "abs_delta": None,
                             "rel_delta": None}], params=[{"key": hostile}])
    body = comment.render(data, TEMPLATE, "javascript:alert(1)", SHA)
    outside = re.sub(r"`[^`\n]*`", "", body)
    for bad in ("@org", "<img", "evil.example", "\n## ok", "javascript:"):
        assert bad not in outside, bad
    gate_row = next(line for line in body.splitlines() if line.startswith("| `x"))
    assert len(re.split(r"(?<!\\)\|", gate_row)) == 7      # pipes escaped: still 5 cells


def test_comment_main_rejects_a_report_for_another_commit(tmp_path: Path) -> None:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "pr_report.json").write_text(json.dumps(_report(head={"sha": "d" * 40})))
    pulls = tmp_path / "pulls.json"
    pulls.write_text(json.dumps([{"number": 4, "state": "open",
                                  "head": {"sha": SHA, "repo": {"full_name": "me/fork"}}}]))
    template = tmp_path / "t.md"
    template.write_text(TEMPLATE)
    code = comment.main(["--artifact", str(folder), "--pulls", str(pulls), "--head-sha", SHA,
                         "--head-repo", "me/fork", "--template", str(template),
                         "--body", str(tmp_path / "body.md")])
    assert code == 1 and not (tmp_path / "body.md").exists()
