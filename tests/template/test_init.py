"""`gitops-ml init`: every bad answer refused before a write, idempotence, the dirty-tree guard."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
import yaml
from repo_tools import sh

from gitops_ml import cli, identity
from gitops_ml.errors import UserError
from gitops_ml.init import command
from gitops_ml.init.plan import CI_TEMPLATE_START, TEMPLATE_ONLY
from gitops_ml.init.yaml_edit import set_value
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


def test_init_leaves_out_the_templates_own_machinery(with_csv, project_root, capsys):
    # every path listed is in the template (a renamed one would silently stay in forks)
    assert all((project_root / p).exists() for p in TEMPLATE_ONLY)
    assert CI_TEMPLATE_START in (project_root / ".ci/run").read_text()
    assert init(*GOOD) == 0
    assert not [p for p in TEMPLATE_ONLY if (with_csv / p).exists()]
    ci_run = with_csv / ".ci/run"
    assert "template-only" not in ci_run.read_text() and "tests/template" not in ci_run.read_text()
    assert ci_run.read_text().rstrip().endswith("uv run --frozen --group ray pytest -n0 -m ray")
    assert ci_run.stat().st_mode & 0o111            # still executable
    assert "template: removed its own machinery (tests/template, " in capsys.readouterr().out


def _uncommented(text: str) -> str:
    """The starter with its commented examples switched on (what a team does first)."""
    lines = [line[1:] if line.startswith("#  ") else ("" if line.startswith("#") else line)
             for line in text.splitlines()]
    return "\n".join(lines).replace("tests: []", "tests:")


def test_init_writes_a_starter_model_tests_file_for_the_new_data(with_csv):
    from gitops_ml.model_tests_spec import load, parse

    assert init(*GOOD) == 0
    text = Path("model_tests.yaml").read_text()
    assert load("model_tests.yaml").tests == []          # nothing active: nothing to fail
    kinds = parse(yaml.safe_load(_uncommented(text))).tests
    assert [t.kind for t in kinds] == ["invariance", "directional", "minimum_functionality"]
    assert kinds[0].column == "colour" and kinds[0].values == ["blue", "green"]
    assert kinds[1].score_of == "mid" and kinds[2].examples[0].label == "high"
    assert kinds[0].tolerance == 0.05 and "largest change of any class probability" in text
    assert "Calibrate it before relying on it" in text
    assert "mean_radius" not in text


def test_init_starter_gives_a_regression_invariance_tolerance_in_target_units():
    from gitops_ml.contract import ColumnSpec, Contract
    from gitops_ml.init.model_tests import starter
    from gitops_ml.model_tests_spec import parse

    features = (ColumnSpec("rooms", "integer", False, 1, 9),
                ColumnSpec("area", "string", False, categories=("north", "south")))
    contract = Contract(target=ColumnSpec("price", "float", False, 20_000.0, 520_000.0),
                        features=features, min_rows=1)
    text = starter(contract)
    invariance = parse(yaml.safe_load(_uncommented(text))).tests[0]
    assert invariance.tolerance == 25_000       # 5% of the target's range, in its units
    assert "predicted price, in its units" in text and "(20000 to 520000)" in text


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
             if "#" in line and "# init: the first model" not in line]   # init's own, added
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
    changed = {next((p for p in TEMPLATE_ONLY if line[3:].startswith(p)), line[3:])
               for line in status(fork).splitlines()}
    assert changed == {"README.md", "docs/intended_use.md", "dvc.yaml", "project.yaml",
                       ".github/CODEOWNERS",      # the owner reviews changes to the rules
                       ".ci/run"} | {             # the template's machinery goes, but for the
                          p for p in TEMPLATE_ONLY if not p.startswith(".github/workflows/")}
    # workflow files the workflow token may not delete
    assert all((fork / p).is_file() for p in TEMPLATE_ONLY if p.startswith(".github/workflows/"))
    assert "/uv.lock          @Acme\n" in (fork / ".github" / "CODEOWNERS").read_text()


def test_init_from_github_leaves_a_repository_named_like_its_project_alone(fork, monkeypatch,
                                                                          capsys):
    # the template itself, or a fork initialised on an earlier push
    monkeypatch.chdir(fork)
    name = identity.load("project.yaml").name   # gitops-ml in the template
    monkeypatch.setenv("GITHUB_REPOSITORY", f"someone/{name}")
    assert init("--non-interactive", "--from-github") == 0
    assert f"someone/{name} already holds project {name!r}; nothing to do" \
        in capsys.readouterr().out
    assert status(fork) == ""


def test_init_from_github_refuses_a_malformed_repository(fork, monkeypatch, capsys):
    monkeypatch.chdir(fork)
    monkeypatch.setenv("GITHUB_REPOSITORY", "no-slash")
    assert init("--non-interactive", "--from-github") == 2
    assert "GITHUB_REPOSITORY must be <owner>/<name>" in capsys.readouterr().err


def test_init_takes_piped_answers_one_line_per_question(with_csv, monkeypatch, capsys):
    lines = ["acme-grades", "grade-model", "Grades parts.", "data/grades.csv", "grade", ""]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert init() == 0
    assert identity.load("project.yaml").model == "grade-model"
    params = yaml.safe_load(Path("params.yaml").read_text())
    assert (params["data"]["source"], params["model"]["task"]) == ("data/grades.csv", "auto")


def test_init_refuses_piped_answers_that_end_early(with_csv, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("acme-grades\n"))
    assert init() == 2
    err = capsys.readouterr().err
    assert "standard input ended before 'Model name (the registry tags it <model>@vX.Y.Z)' " \
        "was answered" in err and "--non-interactive" in err
    assert status(with_csv) == ""


def test_ask_stops_at_a_bad_piped_answer():
    replies = iter(["Bad Name", "churn"])
    with pytest.raises(UserError, match="name: 'Bad Name' is not a valid name"):
        command.ask("Project name", "churn", lambda v: identity.check_name(v, "name"),
                    read=lambda _prompt: next(replies), piped=True)


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


@pytest.fixture
def with_loans(fork: Path, monkeypatch) -> Path:
    """The fork with a committed loans CSV: an ID, names, a status that is rarely `bad`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 120
    pd.DataFrame({
        "loan_id": rng.permutation(n) + 1000,
        "customer": [f"Customer {i}" for i in range(n)],
        "amount": rng.uniform(1000, 9000, n).round(0),
        "purpose": rng.choice(["car", "home", "other"], n),
        "status": np.where(np.arange(n) % 4 == 0, "bad", "good"),
    }).to_csv(fork / "data/loans.csv", index=False)
    commit(fork, "data")
    monkeypatch.chdir(fork)
    return fork


def test_init_excludes_ids_slices_by_a_real_category_and_names_the_positive_class(
        with_loans, capsys):
    assert init(*answers(data="data/loans.csv", target="status", task="auto")) == 0
    out = capsys.readouterr().out
    contract = yaml.safe_load(Path("contract.yaml").read_text())
    assert list(contract["features"]) == ["amount", "purpose"]
    assert set(contract["excluded"]) == {"loan_id", "customer"}
    assert "init: contract: excluded 'loan_id': identifier: named like one" in out
    params = yaml.safe_load(Path("params.yaml").read_text())
    assert params["evaluate"]["slices"] == ["purpose"]
    assert params["gates"]["max_slice_gap"]["column"] == "purpose"
    # floors and the flip-rate ceiling come from the first model, with the numbers in a comment
    assert set(params["gates"]["floors"]) == {"roc_auc", "accuracy"}
    assert "gates: init: the first model (LogisticRegression, " in out
    assert "# init: the first model (LogisticRegression, " in Path("params.yaml").read_text()
    # the rarer class, whether params.yaml has the key yet or not
    assert "init: evaluate.positive_class: bad (the rarer class" in out
    if "positive_class" in params["evaluate"]:
        assert params["evaluate"]["positive_class"] == "bad"


def test_init_swaps_a_classifier_for_a_regressor_on_a_regression_target(with_csv, capsys):
    # the template's classifier (a fork may already train a regressor)
    params = Path("params.yaml")
    text = set_value(params.read_text(), ("model", "estimator"),
                     "sklearn.linear_model.LogisticRegression", where="params.yaml")
    params.write_text(set_value(text, ("model", "params"), {"C": 1.0, "max_iter": 2000},
                                where="params.yaml", block=True))
    if status(with_csv):
        commit(with_csv, "a classifier")
    assert init(*answers(data="sklearn:diabetes", target="progression", task="auto")) == 0
    model = yaml.safe_load(Path("params.yaml").read_text())["model"]
    assert model == {"task": "auto", "estimator": "sklearn.linear_model.Ridge",
                     "params": {"alpha": 1.0}}
    assert "model: sklearn.linear_model.Ridge" in capsys.readouterr().out


def test_init_keeps_an_estimator_that_fits_the_task(with_csv):
    assert init(*GOOD) == 0
    model = yaml.safe_load(Path("params.yaml").read_text())["model"]
    assert model["estimator"] == "sklearn.linear_model.LogisticRegression"
    assert model["params"] == {"C": 1.0, "max_iter": 2000}


def test_calibrated_floors_sit_below_the_first_models_interval():
    from gitops_ml.init.calibrate import FirstModel, gates

    # diamonds: r2 0.9189, its bootstrap interval from 0.9150; floor 0.9150 - 0.02, rounded down
    first = FirstModel("sklearn.linear_model.Ridge", 10788, {"r2": 0.9189, "rmse": 1135.2},
                       0.2778, 6000, {"r2": 0.9150, "rmse": 1160.0})
    floors, flip, comment = gates(first, "regression")
    assert floors == {"r2": 0.89}
    assert flip == 0.30                        # 0.2778 + 3 * sqrt(.2778 * .7222 / 6000) = 0.2951
    assert comment.startswith("init: the first model (Ridge, 10788 test rows) scored r2 0.919 "
                              "(95% lower end 0.915), flip rate 0.278; each floor is that lower "
                              "end less 0.02 (a PR must show its own interval above it)")
    # arthritis: 12 of 17 right; Wilson's bound (0.469) is below the bootstrap's (0.529)
    small = FirstModel("sklearn.linear_model.LogisticRegression", 17,
                       {"accuracy": 0.7059, "f1_macro": 0.517}, 0.0, 51,
                       {"accuracy": 0.529, "f1_macro": 0.378})
    floors, flip, _ = gates(small, "multiclass")
    assert floors == {"accuracy": 0.44, "f1_macro": 0.27}
    assert flip == 0.02
    # penguins: perfect on 69 rows, where the bootstrap's interval is [1, 1]; a refit with one
    # wrong answer (0.9855, bootstrap from about 0.957) still clears the floor
    perfect = FirstModel("e", 69, {"accuracy": 1.0, "f1_macro": 1.0}, None, 0,
                         {"accuracy": 1.0, "f1_macro": 1.0})
    assert gates(perfect, "multiclass")[0] == {"accuracy": 0.92, "f1_macro": 0.92}


def test_calibrated_regression_limits_widen_to_a_standard_error_on_few_rows():
    from gitops_ml.init.calibrate import FirstModel, regression_limits

    limits = {"accuracy": {"abs": 0.02}, "log_loss": {"abs": 0.03}}
    small = FirstModel("e", 17, {"accuracy": 0.7059, "log_loss": 0.7}, None, 0)
    assert regression_limits(small, limits) == {"accuracy": {"abs": 0.12},   # se 0.1105
                                                "log_loss": {"abs": 0.03}}
    large = FirstModel("e", 2000, {"accuracy": 0.97, "log_loss": 0.1}, None, 0)
    assert regression_limits(large, limits) == limits


@pytest.fixture
def with_levels(fork: Path, monkeypatch) -> Path:
    """The fork with a committed CSV in which `NA` is a country (Namibia) and `None` a class."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 120
    pd.DataFrame({
        "age": rng.integers(20, 80, n),
        "country": np.resize(["NA", "DE", "FR", "DE"], n),     # 30 Namibians
        "improved": np.resize(["None", "Some", "Marked", "None"], n),
    }).to_csv(fork / "data/trial.csv", index=False)
    commit(fork, "data")
    monkeypatch.chdir(fork)
    return fork


def test_init_names_a_text_column_where_a_missing_value_token_may_be_a_level(with_levels,
                                                                              capsys):
    assert init(*answers(data="data/trial.csv", target="improved", task="auto")) == 0
    out = capsys.readouterr().out
    assert ("init: data: check 'country': 30 cell(s) hold 'NA', read as missing "
            "(data.na_values), so those cells are missing; if 'NA' is a level of this text "
            "column, remove it from data.na_values in params.yaml\n") in out
    # `None` is no missing value by default: three classes, no note about the target
    assert "check 'improved'" not in out
    assert yaml.safe_load(Path("contract.yaml").read_text())["target"]["categories"] == [
        "Marked", "None", "Some"]


def test_init_reads_the_data_with_the_projects_own_missing_values(with_levels, capsys):
    # a team that once added `None` to data.na_values: init reads the data as the pipeline
    # will, drops the 60 rows labelled `None`, and says that may be a class
    params = Path("params.yaml")
    params.write_text(set_value(params.read_text(), ("data", "na_values"), ["", "None"],
                                where="params.yaml"))
    commit(with_levels, "None is missing")
    assert init(*answers(data="data/trial.csv", target="improved", task="auto")) == 0
    out = capsys.readouterr().out
    assert ("init: data: check 'improved': 60 cell(s) hold 'None', read as missing "
            "(data.na_values), so those rows become unlabelled and are dropped; if 'None' is a "
            "level of this text column, remove it from data.na_values in params.yaml\n") in out
    assert "check 'country'" not in out      # `NA` is no missing value in this project
    assert yaml.safe_load(Path("contract.yaml").read_text())["target"]["categories"] == [
        "Marked", "Some"]
