"""The small CI deciders: stale or up to date (dvc status), dvc pull or not, artifact checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines import comment, remote, repro

SHA = "c" * 40
# `dvc status --json` in a fresh clone of this project: no cache, git-tracked results intact.
FRESH_CLONE = {
    "ingest": [{"changed outs": {"data/raw.parquet": "not in cache"}}],
    "validate": [{"changed deps": {"data/raw.parquet": "deleted"}}],
    "split": [{"changed deps": {"data/raw.parquet": "deleted"}},
              {"changed outs": {"data/train.parquet": "not in cache",
                                "data/test.parquet": "not in cache"}}],
    "train": [{"changed deps": {"data/train.parquet": "deleted"}},
              {"changed outs": {"models/pipeline.joblib": "not in cache"}}],
}


def test_repro_up_to_date_when_status_is_empty() -> None:
    assert repro.up_to_date({}) is True


def test_repro_up_to_date_when_only_uncached_outputs_are_missing() -> None:
    assert repro.up_to_date(FRESH_CLONE) is True


def test_repro_stale_when_a_param_changed() -> None:
    status = FRESH_CLONE | {"train": [{"changed deps": {"params.yaml": {"model.params.C":
                                                                       "modified"}}}]}
    assert repro.up_to_date(status) is False


def test_repro_stale_when_a_tracked_output_was_modified() -> None:
    assert repro.up_to_date({"evaluate": [{"changed outs": {"reports/metrics.json":
                                                            "modified"}}]}) is False


def test_repro_stale_when_a_missing_dep_is_no_stage_output() -> None:
    assert repro.up_to_date({"ingest": [{"changed deps": {"data/raw.csv": "deleted"}}]}) is False


def test_repro_parse_output_names_stages_and_failure() -> None:
    text = ("Stage 'ingest' didn't change, skipping\nRunning stage 'train':\n> gitops-ml train\n"
            "ERROR: failed to reproduce 'train': failed to run: gitops-ml train, exited with 1\n")
    assert repro.parse_output(text) == (("train",), "train")


def test_repro_error_tail_is_capped_and_defuses_fences() -> None:
    tail = repro.error_tail("\n".join(f"line {i} ```" for i in range(100)))
    lines = tail.splitlines()
    assert len(lines) == repro.ERROR_LINES
    assert lines[-1] == "line 99 '''"


@pytest.mark.parametrize(("source", "remotes", "env", "fork", "pull"), [
    # an embedded source needs no remote, but pulls from one for its outputs and run-cache
    ("sklearn:breast_cancer", {"s3": "s3://b/p"}, {"AWS_ACCESS_KEY_ID": "k"}, False, True),
    ("sklearn:breast_cancer", {}, {}, False, False),
    ("data/raw.csv", {}, {}, False, False),
    ("data/raw.csv", {"s3": "s3://b/p"}, {"AWS_ACCESS_KEY_ID": "k"}, True, False),
    ("data/raw.csv", {"s3": "s3://b/p"}, {"AWS_ACCESS_KEY_ID": ""}, False, False),
    ("data/raw.csv", {"s3": "s3://b/p"}, {"AWS_ACCESS_KEY_ID": "k"}, False, True),
    ("data/raw.csv", {"local": "/mnt/dvc"}, {}, False, True),
])
def test_remote_decide_pulls_only_with_remote_credentials_and_no_fork(
        source: str, remotes: dict, env: dict, fork: bool, pull: bool) -> None:
    assert remote.decide(source, remotes, env, fork).pull is pull


def test_remote_is_fork_compares_head_repo_with_this_repo() -> None:
    assert remote.is_fork({"PR_HEAD_REPO": "me/fork", "GITHUB_REPOSITORY": "org/repo"})
    assert not remote.is_fork({"PR_HEAD_REPO": "org/repo", "GITHUB_REPOSITORY": "org/repo"})
    assert not remote.is_fork({})


def _report(**overrides) -> dict:
    data = {"schema": comment.SCHEMA, "verdict": "pass", "first_pr": False,
            "base": {"ref": "main", "sha": "a" * 40}, "head": {"sha": SHA},
            "pipeline": {"state": "reproduced"}, "metrics": [
                {"name": "roc_auc", "base": 0.9, "head": 0.91, "abs_delta": 0.01,
                 "rel_delta": 0.011}],
            "params": [{"key": "model.params.C"}],
            "gates": [{"gate": "g", "key": "k", "rule": "r", "value": "v", "detail": "",
                       "status": "pass", "blocking": True}]}
    return data | overrides


def _artifact(tmp_path: Path, data: dict, md: str = "## ✅ Model check passed\n") -> Path:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "pr_report.json").write_text(json.dumps(data))
    (folder / "pr_report.md").write_text(md)
    return folder


def test_comment_accepts_a_valid_report(tmp_path: Path) -> None:
    data = comment.load_artifact(_artifact(tmp_path, _report()), SHA)
    assert data["verdict"] == "pass"


@pytest.mark.parametrize(("data", "md", "message"), [
    (_report(verdict="merge me"), "## ok", "verdict: expected one of"),
    (_report(head={"sha": "d" * 40}), "## ok", "head.sha: the report is for ddddddd"),
    (_report(metrics=[{"name": "x", "head": "1e9"}]), "## ok", "metrics[].head: expected a num"),
    (_report(gates=[{}] * 101), "## ok", "gates: 101 items, more than 100"),
])
def test_comment_rejects_untrusted_artifact(tmp_path: Path, data: dict, md: str,
                                            message: str) -> None:
    with pytest.raises(comment.Rejected, match="^" + re.escape(message)):
        comment.load_artifact(_artifact(tmp_path, data, md), SHA)


def test_comment_rejects_oversized_json_before_parsing(tmp_path: Path) -> None:
    folder = _artifact(tmp_path, _report())
    (folder / "pr_report.json").write_text(" " * (comment.MAX_JSON_BYTES + 1))
    with pytest.raises(comment.Rejected, match="more than 1048576"):
        comment.load_artifact(folder, SHA)


def test_comment_picks_the_open_pull_request_with_that_head() -> None:
    repo = {"repo": {"full_name": "me/fork"}}
    pulls = [{"number": 3, "state": "closed", "head": {"sha": SHA, **repo}},
             {"number": 7, "state": "open", "head": {"sha": SHA, **repo}},
             {"number": 8, "state": "open", "head": {"sha": SHA, "repo": {"full_name": "o/x"}}},
             {"number": 9, "state": "open", "head": {"sha": "e" * 40, **repo}}]
    assert comment.pick_pull_request(pulls, SHA, "me/fork") == 7
    assert comment.pick_pull_request([], SHA, "me/fork") is None
