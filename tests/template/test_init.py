"""`gitops-ml init`: every bad answer refused before a write, idempotence, the dirty-tree guard."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from repo_tools import sh

from gitops_ml import cli, identity
from gitops_ml.errors import UserError
from gitops_ml.init import command
from gitops_ml.report.gates import GatesConfig

GOOD = ["--non-interactive", "--name", "acme-grades", "--model", "grade-model",
        "--description", "Grades parts as low, mid or high.", "--data", "data/grades.csv",
        "--target", "grade", "--task", "multiclass"]


def status(repo: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout


def commit(repo: Path, message: str) -> None:
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", message], repo)


@pytest.fixture
def with_csv(fork: Path, mixed_csv, monkeypatch) -> Path:
    """The fork with a committed CSV of grades (categories, missing values, 3 classes)."""
    mixed_csv(fork / "data/grades.csv")
    commit(fork, "data")
    monkeypatch.chdir(fork)
    return fork


def init(*args: str) -> int:
    return cli.main(["init", *args])


def answers(**change: str) -> list[str]:
    args = list(GOOD)
    for flag, value in change.items():
        args[args.index(f"--{flag}") + 1] = value
    return args


@pytest.mark.parametrize(("change", "message"), [
    ({"data": "data/nope.csv"}, "data: file not found: data/nope.csv"),
    ({"data": "sklearn:mnist"}, "data.source: unknown scikit-learn dataset 'mnist'"),
    ({"target": "colour_code"}, "data.target: column 'colour_code' not found"),
    ({"name": "Acme Grades"}, "name: 'Acme Grades' is not a valid name"),
    ({"model": "grades-"}, "model: 'grades-' is not a valid name"),
    ({"description": " "}, "description: required"),
    ({"task": "ranking"}, "task: must be one of auto, binary, multiclass, regression"),
    ({"task": "binary"}, "model.task: binary, but target 'grade' has 3 classes"),
])
def test_init_rejects_bad_answer_before_writing_anything(with_csv, capsys, change, message):
    assert init(*answers(**change)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gitops-ml init: error: {message}"), err
    assert status(with_csv) == ""


def test_init_refuses_a_dirty_tree_unless_forced(with_csv, capsys):
    (with_csv / "notes.txt").write_text("work in progress\n")
    assert init(*GOOD) == 2
    assert "uncommitted change(s) (?? notes.txt, ...)" in capsys.readouterr().err
    assert status(with_csv) == "?? notes.txt\n"
    assert init(*GOOD, "--force") == 0
    assert identity.load("project.yaml").name == "acme-grades"


def test_init_writes_identity_data_contract_and_model_name(with_csv):
    assert init(*GOOD) == 0
    ident = identity.load("project.yaml")
    assert (ident.name, ident.model) == ("acme-grades", "grade-model")
    params = yaml.safe_load(Path("params.yaml").read_text())
    assert params["data"]["source"] == "data/grades.csv" and params["data"]["target"] == "grade"
    assert params["model"]["task"] == "multiclass"
    assert params["evaluate"]["slices"] == ["colour"]
    contract = yaml.safe_load(Path("contract.yaml").read_text())
    assert contract["target"] == {"name": "grade", "dtype": "string", "nullable": False,
                                  "categories": ["high", "low", "mid"]}
    assert contract["features"]["colour"]["categories"] == ["blue", "green", "red"]
    dvc = yaml.safe_load(Path("dvc.yaml").read_text())
    assert list(dvc["artifacts"]) == ["grade-model"]
    assert "--name grade-model " in dvc["stages"]["export"]["cmd"]
    readme = Path("README.md").read_text()
    assert "\n# acme-grades\n\nGrades parts as low, mid or high.\n" in readme
    assert "`grade-model` predicts `grade` (multiclass)" in Path("docs/intended_use.md").read_text()


def test_init_resets_results_of_the_old_data_and_keeps_templates(with_csv):
    assert init(*GOOD) == 0
    assert not Path("reports/metrics.json").exists()
    assert not Path("reports/plots").exists()
    assert not Path("reports/model_card.md").exists()
    assert Path("reports/model_card.md.j2").is_file() and Path("reports/pr_report.md.j2").is_file()


def test_init_gates_name_metrics_and_columns_the_new_task_produces(with_csv):
    assert init(*answers(data="sklearn:diabetes", target="progression", task="auto")) == 0
    params = yaml.safe_load(Path("params.yaml").read_text())
    gates = GatesConfig.from_params(params)
    regression_metrics = {"rmse", "mae", "r2"}
    assert {r.metric for r in gates.max_regression} <= regression_metrics
    assert {f.metric for f in gates.floors} <= regression_metrics
    assert gates.max_slice_gap.metric == "mae"
    features = yaml.safe_load(Path("contract.yaml").read_text())["features"]
    assert gates.max_slice_gap.column in features
    assert set(params["evaluate"]["slices"]) <= set(features)


def test_init_keeps_every_comment_of_params_yaml(with_csv):
    before = [line.split("#", 1)[1] for line in Path("params.yaml").read_text().splitlines()
              if "#" in line]
    assert init(*GOOD) == 0
    after = [line.split("#", 1)[1] for line in Path("params.yaml").read_text().splitlines()
             if "#" in line]
    assert after == before


def test_init_twice_with_the_same_answers_changes_nothing(with_csv, capsys):
    assert init(*GOOD) == 0
    commit(with_csv, "init")
    assert init(*GOOD) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert status(with_csv) == ""


def test_init_with_the_templates_own_answers_is_a_no_op(fork, monkeypatch, capsys):
    monkeypatch.chdir(fork)
    assert init("--non-interactive") == 0
    assert "nothing to change" in capsys.readouterr().out
    assert status(fork) == ""


def test_init_from_github_names_the_project_after_the_repository(fork, monkeypatch):
    monkeypatch.chdir(fork)
    monkeypatch.setenv("GITHUB_REPOSITORY", "Acme/Churn_Model.v2")
    monkeypatch.setenv("GITHUB_REPOSITORY_OWNER", "Acme")
    monkeypatch.setenv("REPOSITORY_DESCRIPTION", "Predicts churn for Acme's subscribers.")
    assert init("--non-interactive", "--from-github") == 0
    ident = identity.load("project.yaml")
    assert (ident.name, ident.model, ident.owner) == ("churn-model-v2", "churn-model-v2", "Acme")
    assert ident.description == "Predicts churn for Acme's subscribers."
    # the data is unchanged, so its contract, gates and committed results stay
    changed = {line[3:] for line in status(fork).splitlines()}
    assert changed == {"README.md", "docs/intended_use.md", "dvc.yaml", "project.yaml",
                       ".github/CODEOWNERS"}      # the owner reviews changes to the rules
    assert "/uv.lock          @Acme\n" in (fork / ".github" / "CODEOWNERS").read_text()


def test_init_from_github_leaves_a_repository_named_like_its_project_alone(fork, monkeypatch,
                                                                          capsys):
    # the template itself, or a fork initialised on an earlier push
    monkeypatch.chdir(fork)
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/gitops-ml")
    assert init("--non-interactive", "--from-github") == 0
    assert "someone/gitops-ml already holds project 'gitops-ml'; nothing to do" \
        in capsys.readouterr().out
    assert status(fork) == ""


def test_init_from_github_refuses_a_malformed_repository(fork, monkeypatch, capsys):
    monkeypatch.chdir(fork)
    monkeypatch.setenv("GITHUB_REPOSITORY", "no-slash")
    assert init("--non-interactive", "--from-github") == 2
    assert "GITHUB_REPOSITORY must be <owner>/<name>" in capsys.readouterr().err


def test_ask_prompts_again_until_the_answer_is_valid(capsys):
    replies = iter(["Bad Name", "", ])
    got = command.ask("Project name", "churn", lambda v: identity.check_name(v, "name"),
                      read=lambda _prompt: next(replies))
    assert got == "churn"
    assert "name: 'Bad Name' is not a valid name" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "message"), [
    ("name: a\nmodel: b\n", "description: required but missing"),
    ("name: a\nmodel: b\ndescription: d\ncolour: red\n", "colour: unknown key"),
    ("name: a\nmodel: b\ndescription: d\nimage: ghcr.io/Acme/X\n", "image: 'ghcr.io/Acme/X'"),
    ("name: a\nmodel: b\ndescription: d\npython: 3\n", "python: expected a version"),
])
def test_identity_load_names_the_bad_key(tmp_path, text, message):
    (tmp_path / "project.yaml").write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        identity.load(tmp_path / "project.yaml")


def test_identity_image_defaults_to_ghcr_of_the_repository():
    ident = identity.Identity("churn", "churn", "d")
    assert ident.image_for("Acme/Churn") == "ghcr.io/acme/churn"
    assert identity.Identity("c", "c", "d", image="ghcr.io/x/y").image_for("A/B") == "ghcr.io/x/y"


def test_project_names_its_model_once(project_root):
    """dvc.yaml's artifact and `export --name` carry project.yaml's model name."""
    model = identity.load(project_root / "project.yaml").model
    dvc = yaml.safe_load((project_root / "dvc.yaml").read_text())
    assert list(dvc["artifacts"]) == [model]
    assert f"--name {model} " in dvc["stages"]["export"]["cmd"]
