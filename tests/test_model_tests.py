"""Behavioural tests, robustness and the model_tests stage, on real exported ONNX models.

Each test kind is shown to fail on a model built to break it and to pass on one that respects it;
a model leaning on a proxy of a protected column fails the fairness gate and its twin passes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from onnx_models import export_model

from gitops_ml import cli
from gitops_ml import model_tests as mt
from gitops_ml.config import RobustnessConfig
from gitops_ml.model_tests_spec import parse
from gitops_ml.report import gates
from gitops_ml.serve.model import OnnxModel
from gitops_ml.stages import model_tests as stage

RNG = np.random.default_rng(7)
N = 400
X = RNG.normal(size=N)
COLOUR = RNG.choice(["red", "blue"], size=N)
LABELS = {   # what each model learns the label from
    "good": np.where(X > 0, "yes", "no"),             # x up -> yes; colour irrelevant
    "reversed": np.where(X < 0, "yes", "no"),         # x up -> no
    "colour": np.where(COLOUR == "red", "yes", "no"),  # colour decides; x irrelevant
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, mt.Scorer]:
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name, y in LABELS.items():
        df = pd.DataFrame({"x": X, "colour": COLOUR, "label": y})
        path = export_model(df, "label", root / name, params={"C": 100.0, "max_iter": 1000})
        out[name] = mt.Scorer(OnnxModel.load(path))
    return out


ROWS = pd.DataFrame({"x": RNG.normal(size=60), "colour": RNG.choice(["red", "blue"], size=60),
                     "label": "no"})
INVARIANCE = {"name": "colour does not matter", "kind": "invariance", "column": "colour",
              "values": ["red", "blue"], "tolerance": 0.1}
DIRECTIONAL = {"name": "more x, more yes", "kind": "directional", "column": "x", "change": 0.5,
               "expect": "increase", "score_of": "yes"}
MINIMUM = {"name": "clear cases", "kind": "minimum_functionality", "examples": [
    {"name": "large x", "features": {"x": 3.0}, "label": "yes"},
    {"name": "small x", "features": {"x": -3.0}, "label": "no"}]}


def run(test: dict, scorer: mt.Scorer) -> dict:
    return mt.run(parse({"tests": [test]}), scorer, ROWS)[0]


@pytest.mark.parametrize(("test", "breaker"), [(INVARIANCE, "colour"), (DIRECTIONAL, "reversed"),
                                               (MINIMUM, "reversed")])
def test_each_kind_passes_on_a_respecting_model_and_fails_on_one_built_to_break_it(
        models, test, breaker):
    assert run(test, models["good"])["passed"] is True
    broken = run(test, models[breaker])
    assert broken["passed"] is False and broken["failing"] > 0
    assert broken["examples"]


def test_invariance_counts_every_row_a_colour_model_changes(models):
    result = run(INVARIANCE, models["colour"])
    assert result["failing"] == len(ROWS) and result["rows"] == len(ROWS)
    assert result["largest_change"] > 0.9
    assert result["examples"][0]["row"] == 0


def test_directional_on_a_reversed_model_fails_the_rows_whose_score_drops(models):
    result = run(DIRECTIONAL, models["reversed"])
    # Rows far from the boundary sit at probability 0 or 1 in float32 and cannot move; the rest
    # (about half of N(0, 1) within reach of a 0.5 step) must all be caught.
    assert len(ROWS) / 3 < result["failing"] <= len(ROWS)
    assert all(e["score_after"] < e["score_before"] - 1e-6 for e in result["examples"])


def test_minimum_functionality_names_each_failing_example(models):
    result = run(MINIMUM, models["reversed"])
    assert result["failing"] == 2 and result["rows"] == 2
    assert result["examples"] == [{"example": "large x", "expected": "yes", "got": "no"},
                                  {"example": "small x", "expected": "no", "got": "yes"}]


def test_max_failure_rate_allows_a_share_of_rows(models):
    loose = dict(INVARIANCE, max_failure_rate=1.0)
    assert run(loose, models["colour"])["passed"] is True


def test_max_failure_rate_of_zero_fails_on_one_row():
    test = parse({"tests": [dict(INVARIANCE, max_failure_rate=0.0)]}).tests[0]
    assert mt._result(test, 114, 1, [], 0.0)["passed"] is False
    assert mt._result(test, 114, 0, [], 0.0)["passed"] is True


@pytest.mark.parametrize(("failing", "rows", "passed"), [
    (4, 114, True),        # 3.5% on 114 rows: lower bound 1.6%, within 2% (the template's case)
    (10, 114, False),      # 8.8%: lower bound 5.4%, shown to exceed 2%
    (60, 2000, False),     # 3.0% on 2000 rows: lower bound 2.4%, a real excess
    (45, 2000, True),      # 2.25%: lower bound 1.8%
])
def test_max_failure_rate_is_judged_with_a_small_sample_allowance(failing, rows, passed):
    test = parse({"tests": [INVARIANCE]}).tests[0]
    result = mt._result(test, rows, failing, [], test.max_failure_rate)
    assert result["passed"] is passed, result


def test_lower_bound_is_wilsons():
    assert mt.lower_bound(0, 50) == 0.0
    assert mt.lower_bound(4, 114) == pytest.approx(0.01576, abs=1e-4)
    assert mt.lower_bound(114, 114) == pytest.approx(0.9768, abs=1e-3)


def test_a_column_the_model_does_not_have_is_named(models):
    with pytest.raises(Exception, match=r"tests\[0\] \(colour does not matter\)\.column: "
                                        r"'shade' is not a model feature"):
        run(dict(INVARIANCE, column="shade"), models["good"])


def test_an_unknown_category_is_named(models):
    with pytest.raises(Exception, match="'green' is not a category of colour"):
        run(dict(INVARIANCE, values=["red", "green"]), models["good"])


def test_robustness_without_noise_flips_nothing(models):
    cfg = RobustnessConfig(noise=0.0, category_swap=0.0, repeats=2)
    assert mt.robustness(models["good"], ROWS, cfg, seed=0)["flip_rate"] == 0.0


def test_robustness_swapping_every_category_flips_a_colour_model_entirely(models):
    cfg = RobustnessConfig(noise=0.0, category_swap=1.0, repeats=2)
    assert mt.robustness(models["colour"], ROWS, cfg, seed=0)["flip_rate"] == 1.0
    assert mt.robustness(models["good"], ROWS, cfg, seed=0)["flip_rate"] < 0.1


def test_robustness_noise_flips_rows_near_the_boundary(models):
    cfg = RobustnessConfig(noise=1.0, category_swap=0.0, repeats=3)
    rate = mt.robustness(models["good"], ROWS, cfg, seed=0)["flip_rate"]
    assert 0.05 < rate < 0.6


def test_robustness_off_when_repeats_is_zero(models):
    assert mt.robustness(models["good"], ROWS, RobustnessConfig(repeats=0), seed=0) is None


# -- the stage, end to end: a proxy of a protected column ------------------------------------


def world(seed: int, n: int, *, biased: bool) -> pd.DataFrame:
    """Applicants with a skill score and a group; `proxy` betrays the group (e.g. a postcode).

    Biased history: group b was approved with less skill. The truth (test labels) is skill only.
    """
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b"], size=n)
    skill = rng.normal(size=n)
    proxy = (group == "b") + rng.normal(scale=0.1, size=n)
    score = skill + (2.0 * (group == "b") - 1.0 if biased else 0.0)
    return pd.DataFrame({"skill": skill, "proxy": proxy, "group": group,
                         "approved": np.where(score > 0, "yes", "no")})


def stage_args(tmp_path: Path, model_dir: Path, test: pd.DataFrame) -> argparse.Namespace:
    test.to_parquet(tmp_path / "test.parquet")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "data": {"source": "test.parquet", "target": "approved"},
        "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
        "seed": 0, "evaluate": {"protected": ["group"], "positive_class": "yes",
                                "min_group_size": 30},
        "robustness": {"repeats": 1}}))
    (tmp_path / "model_tests.yaml").write_text("tests: []\n")
    return argparse.Namespace(params=str(tmp_path / "params.yaml"), model_dir=str(model_dir),
                              tests=str(tmp_path / "model_tests.yaml"),
                              test=str(tmp_path / "test.parquet"),
                              report=str(tmp_path / "model_tests.json"),
                              fairness=str(tmp_path / "fairness.json"))


FAIRNESS_GATE = gates.GatesConfig.from_params({"gates": {"fairness": [
    {"column": "group", "metric": "equalized_odds_difference", "max": 0.1}]}})


@pytest.mark.parametrize(("drop", "status", "low", "high"), [
    (("group",), "fail", 0.6, 0.75),          # measured 0.679: TPR 0.32 for a, 1.0 for b
    (("group", "proxy"), "pass", 0.0, 0.02),  # measured 0.003
])
def test_a_proxy_of_the_protected_column_fails_the_fairness_gate_and_its_twin_passes(
        tmp_path, drop, status, low, high):
    # Trained on the biased history; `group` itself is never a feature, only the proxy may be.
    model_dir = export_model(world(1, 2000, biased=True), "approved", tmp_path / "model",
                             drop=drop)
    args = stage_args(tmp_path, model_dir, world(2, 2000, biased=False))
    stage.main(args)
    report = json.loads(Path(args.fairness).read_text())
    assert report["positive_class"] == "yes"
    assert [g["group"] for g in report["columns"]["group"]["groups"]] == ["a", "b"]
    [result] = gates.evaluate(FAIRNESS_GATE, head_metrics={}, base_metrics=None,
                              onnx_parity=None, data_validation=None, slices=None,
                              fairness=report)
    assert result.status == status, result
    assert low <= report["columns"]["group"]["gaps"]["equalized_odds_difference"] <= high


def test_stage_rejects_an_unknown_key_in_the_tests_file_in_one_line(tmp_path, capsys):
    model_dir = export_model(world(1, 200, biased=False), "approved", tmp_path / "model",
                             drop=("group",))
    args = stage_args(tmp_path, model_dir, world(2, 100, biased=False))
    Path(args.tests).write_text("tests:\n  - {name: t, kind: directional, column: skill, "
                                "change: 1, expect: increase, score_of: 'yes', tolerence: 0.1}\n")
    code = cli.main(["model-tests", "--params", args.params, "--model-dir", args.model_dir,
                     "--tests", args.tests, "--test", args.test, "--report", args.report,
                     "--fairness", args.fairness])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"gitops-ml model-tests: error: {args.tests}: tests[0].tolerence: unknown key"
    assert not Path(args.report).exists() and not Path(args.fairness).exists()


def test_stage_names_a_protected_column_missing_from_the_test_data(tmp_path):
    model_dir = export_model(world(1, 200, biased=False), "approved", tmp_path / "model",
                             drop=("group",))
    args = stage_args(tmp_path, model_dir, world(2, 100, biased=False).drop(columns="group"))
    with pytest.raises(Exception, match="evaluate.protected: column\\(s\\) group not in the "
                                        "test data"):
        stage.main(args)


def test_yaml_booleans_are_refused_as_class_names():
    text = "tests: [{name: t, kind: directional, column: x, change: 1, expect: increase, " \
           "score_of: yes}]"
    with pytest.raises(Exception, match=r"tests\[0\]\.score_of: YAML reads yes/no/true/false"):
        parse(yaml.safe_load(text))


# -- the stage on the template's own datasets, through the CLI --------------------------------


def test_stage_assesses_a_regression_by_sex_on_diabetes(project):
    project.params["data"] = {"source": "sklearn:diabetes", "target": "progression"}
    project.params["model"] = {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}
    project.params["evaluate"]["slices"] = ["sex"]
    project.params["evaluate"]["protected"] = ["sex"]
    project.params["evaluate"]["min_group_size"] = 30
    project.run_all()
    report = json.loads(project.path("reports/fairness.json").read_text())
    result = report["columns"]["sex"]
    assert len(result["groups"]) == 2 and sum(g["n"] for g in result["groups"]) == 89
    maes = [g["mae"]["value"] for g in result["groups"]]
    assert result["gaps"]["mae_difference"] == pytest.approx(max(maes) - min(maes), abs=1e-5)
    for g in result["groups"]:
        low, high = g["mae"]["ci"]
        assert low < g["mae"]["value"] < high
    robust = json.loads(project.path("reports/model_tests.json").read_text())["robustness"]
    assert 0.0 <= robust["flip_rate"] <= 1.0 and robust["rows"] == 89


def test_stage_on_a_csv_with_categories_judges_each_colour(project, mixed_csv, example_params):
    mixed_csv(project.path("mixed.csv"))
    project.params["data"] = {"source": "mixed.csv", "target": "grade"}
    project.params["model"] = example_params["model"]   # a classifier, whatever the project's
    project.params["evaluate"]["slices"] = ["colour"]
    project.params["evaluate"]["protected"] = ["colour"]
    project.params["evaluate"]["min_group_size"] = 5
    project.run_all()
    report = json.loads(project.path("reports/fairness.json").read_text())
    meta = json.loads(project.path("model.json").read_text())
    assert report["positive_class"] == meta["classes"][-1]
    groups = report["columns"]["colour"]["groups"]
    assert sum(g["n"] for g in groups) == len(pd.read_parquet(project.path("test.parquet")))
    assert report["columns"]["colour"]["gaps"]["demographic_parity_difference"] is not None


def meta(task: str, classes: tuple[str, ...] | None):
    from gitops_ml.serve.model import ModelMeta

    return ModelMeta("m", None, task, "y", (), classes, "model.onnx", {}, {})


@pytest.mark.parametrize(("task", "classes", "y", "configured", "expected"), [
    ("binary", ("0", "1"), [0, 0, 0, 1], None, "1"),               # 0/1: 1, even when common
    ("binary", ("0", "1"), [1, 1, 1, 0], None, "1"),
    ("binary", ("bad", "good"), ["good"] * 3 + ["bad"], None, "bad"),   # else the rarer class
    ("binary", ("bad", "good"), ["good"] * 3 + ["bad"], "good", "good"),
    ("multiclass", ("a", "b", "c"), ["a", "b", "c"], None, "c"),
    ("regression", None, [1.0, 2.0], None, None),
])
def test_positive_class_follows_the_evaluate_stage_rule(task, classes, y, configured, expected):
    assert stage.positive_class(meta(task, classes), pd.Series(y), configured) == expected


def test_positive_class_is_refused_for_multiclass():
    with pytest.raises(Exception, match="evaluate.positive_class: only for binary tasks"):
        stage.positive_class(meta("multiclass", ("a", "b", "c")), pd.Series(["a"]), "a")
