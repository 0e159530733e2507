"""The audit trail: registration records approvals, gates and the data hash; `gitops-ml registry
audit` and the model card read them back from the tags."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_pulls_api import FakePulls

from gitops_ml.cli import main as cli
from gitops_ml.registry import audit, tags
from gitops_ml.registry.state import Registry

PROJECT = Path(__file__).resolve().parents[2]
if str(PROJECT) not in sys.path:   # `pipelines/` is run as `python -m`, not installed
    sys.path.insert(0, str(PROJECT))

from pipelines import register  # noqa: E402

BOT = "41898282+github-actions[bot]@users.noreply.github.com"
MAIN_REF = "acme/churn/.github/workflows/main.yml@refs/heads/main"
IMAGE = "ghcr.io/acme/churn"
DIGEST = "sha256:" + "e" * 64
META = {"name": "model", "task": "binary", "target": "y",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "features": [{"name": "x", "type": "number", "dtype": "float", "nullable": False}],
        "classes": ["no", "yes"],
        "onnx": {"file": "model.onnx", "inputs": ["x"], "outputs": {"label": "label"}},
        "metrics": {"accuracy": 0.9}, "training_data": {"sha256": "f" * 64, "rows": 10}}
REPORT = {"gates": [
    {"gate": "floor roc_auc", "status": "pass", "blocking": True},
    {"gate": "data contract", "status": "pass", "blocking": True},
    {"gate": "slice gap", "status": "fail", "blocking": False}]}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def tiny_onnx() -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    w = numpy_helper.from_array(np.array([[1.0]], dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    return helper.make_model(graph).SerializeToString()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    shutil.copy(PROJECT / "dvc.yaml", root / "dvc.yaml")
    (root / "models" / "model.json").write_text(json.dumps(META))
    (root / "models" / "model.onnx").write_bytes(tiny_onnx())
    (root / "pr_report.json").write_text(json.dumps(REPORT))
    (root / ".gitignore").write_text("models/\npr_report.json\n")
    for key, value in {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                       "GIT_COMMITTER_NAME": "github-actions[bot]",
                       "GIT_COMMITTER_EMAIL": BOT,
                       "GITHUB_WORKFLOW_REF": MAIN_REF, "GITHUB_SHA": "1" * 40,
                       "GITHUB_RUN_ID": "42", "GITHUB_SERVER_URL": "https://github.com",
                       "GITHUB_REPOSITORY": "acme/churn", "GH_TOKEN": "token"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "merge pull request #7")
    return root


@pytest.fixture
def github(repo, monkeypatch):
    fake = FakePulls("acme/churn")
    fake.merge(7, git(repo, "rev-parse", "HEAD"), [
        ("alice", "COMMENTED"), ("bob", "APPROVED"), ("alice", "APPROVED"),
        ("bob", "CHANGES_REQUESTED"), ("carol", "COMMENTED")])
    monkeypatch.setenv("GITHUB_API_URL", fake.start())
    yield fake
    fake.stop()


def apply(repo: Path, *extra: str) -> int:
    return register.main(["apply", "--repo", str(repo), "--dvc-yaml", str(repo / "dvc.yaml"),
                          "--meta", str(repo / "models" / "model.json"), "--version", "v1.0.0",
                          "--image", IMAGE, "--digest", DIGEST, *extra])


def test_register_records_approvals_gates_data_hash_and_build(repo, github):
    assert apply(repo, "--report", str(repo / "pr_report.json"), "--approvals-from-github") == 0
    message = git(repo, "tag", "-l", "--format=%(contents)", "model@v1.0.0")
    record = json.loads(message.split("gitops-ml-record: ", 1)[1])
    assert record["governance"] == {
        "data_sha256": "f" * 64, "gates": REPORT["gates"], "pull_request": 7,
        "pull_request_url": "https://github.com/acme/churn/pull/7", "approved_by": ["alice"]}
    assert record["build"] == {
        "workflow_ref": MAIN_REF, "sha": "1" * 40,
        "run_url": "https://github.com/acme/churn/actions/runs/42", "attested": True}


def test_registry_audit_prints_the_trail_from_the_tags(repo, github, capsys):
    assert apply(repo, "--report", str(repo / "pr_report.json"), "--approvals-from-github") == 0
    capsys.readouterr()
    assert cli(["registry", "audit", "--repo", str(repo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| Version | Registered | PR | Approved by | Gates |")
    row = lines[2].split(" | ")
    assert row[0] == "| v1.0.0" and row[2:] == [
        "#7", "@alice", "2/3 passed (failed: slice gap)", "`ffffffffffff`", "`eeeeeeeeeeee`",
        "yes |"]


def test_register_without_attestation_warns_and_the_trail_says_so(repo, capsys):
    assert apply(repo, "--no-attestation") == 0
    assert ("::warning::model@v1.0.0: registered without a build provenance attestation; "
            "deploys of it need --allow-unattested") in capsys.readouterr().err
    [row] = audit.rows(Registry("model", tags.read(repo)))
    assert row["attested"] is False and row["approved_by"] is None
    assert "| **no** |" in audit.markdown([row])


def test_register_approvals_need_a_token(repo, monkeypatch, capsys):
    monkeypatch.delenv("GH_TOKEN")
    assert apply(repo, "--approvals-from-github") == 2
    assert capsys.readouterr().err.strip() == (
        "register apply: error: --approvals-from-github: needs GH_TOKEN and GITHUB_REPOSITORY")
    assert git(repo, "tag", "-l") == ""


def test_register_approvals_with_a_bad_token_register_nothing(repo, github, monkeypatch, capsys):
    monkeypatch.setenv("GH_TOKEN", "wrong")
    assert apply(repo, "--approvals-from-github") == 2
    assert "HTTP 401: Bad credentials" in capsys.readouterr().err
    assert git(repo, "tag", "-l") == ""


def test_model_card_governance_section_reads_the_registry(repo, github, tmp_path):
    assert apply(repo, "--report", str(repo / "pr_report.json"), "--approvals-from-github") == 0
    out = tmp_path / "card.md"
    # the registered model's own model.json (the project's is a `dvc repro` output, absent from
    # a fresh clone); the committed reports of the project fill the rest of the card
    args = ["model-card", "--audit-repo", str(repo), "--out", str(out),
            "--meta", str(repo / "models" / "model.json")]
    for flag, name in (("metrics", "reports/metrics.json"),
                       ("slices", "reports/slices.json"),
                       ("importance", "reports/importance.json"),
                       ("validation", "reports/data_validation.json"),
                       ("parity", "reports/onnx_parity.json"),
                       ("intended-use", "docs/intended_use.md"),
                       ("template", "reports/model_card.md.j2"), ("params", "params.yaml")):
        args += [f"--{flag}", str(PROJECT / name)]
    assert cli(args) == 0
    card = out.read_text()
    section = card.split("## Governance\n", 1)[1].split("\n## ", 1)[0]
    assert "| v1.0.0 |" in section and "| #7 | @alice | 2/3 passed (failed: slice gap) |" in section
