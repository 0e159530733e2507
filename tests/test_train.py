from __future__ import annotations

import pandas as pd
import pytest

from gitops_ml import contract as contract_mod
from gitops_ml.config import ModelConfig
from gitops_ml.errors import UserError
from gitops_ml.modeling import MISSING_CATEGORY, model_frame, resolve_estimator
from gitops_ml.stages.train import check_excluded, train


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame({
        "a": [1.0, 2.0, None, 4.0, 5.0, 6.0, 7.0, 8.0],
        "c": ["x", "y", "x", None, "y", "x", "y", "x"],
        "y": ["p", "q", "p", "q", "p", "q", "p", "q"],
    })


def lr(**params) -> ModelConfig:
    return ModelConfig("sklearn.linear_model.LogisticRegression", params)


def test_resolve_estimator_unknown_module():
    with pytest.raises(UserError, match=r"model\.estimator: cannot import module 'sklearn\.nope'"):
        resolve_estimator("sklearn.nope.Model", {})


def test_resolve_estimator_unknown_class():
    with pytest.raises(UserError, match=r"'sklearn\.linear_model' has no estimator class 'Nope'"):
        resolve_estimator("sklearn.linear_model.Nope", {})


def test_resolve_estimator_unknown_param_is_named():
    with pytest.raises(UserError, match=r"^model\.params\.depth: not a parameter of"):
        resolve_estimator("sklearn.linear_model.LogisticRegression", {"depth": 3})


def test_train_param_of_wrong_type_is_named(mixed):
    c = contract_mod.infer(mixed, "y")
    with pytest.raises(UserError, match=r"model\.params: The 'C' parameter of LogisticRegression"):
        train(mixed, c, lr(C="big"), seed=0)


def test_train_regressor_for_classification_target_is_a_config_error(mixed):
    c = contract_mod.infer(mixed, "y")
    cfg = ModelConfig("sklearn.linear_model.Ridge", {})
    with pytest.raises(UserError) as exc:
        train(mixed, c, cfg, seed=0)
    assert str(exc.value) == ("model.estimator: sklearn.linear_model.Ridge is not a classifier, "
                              "but model.task is binary (set model.task: regression if the "
                              "target is a quantity)")


def test_train_classifier_for_regression_target_is_a_config_error():
    # "a" is a real feature (not increasing row by row, which contract inference takes for an ID)
    df = pd.DataFrame({"a": [(i * 7) % 30 + 0.5 for i in range(30)],
                       "y": [i * 0.5 for i in range(30)]})
    c = contract_mod.infer(df, "y")
    with pytest.raises(UserError) as exc:
        train(df, c, lr(), seed=0)
    assert str(exc.value) == (
        "model.estimator: sklearn.linear_model.LogisticRegression is not a regressor, but "
        "model.task is regression; choose a regressor such as sklearn.linear_model.Ridge")


def test_resolve_estimator_unknown_param_names_the_nearest_one():
    with pytest.raises(UserError) as exc:
        resolve_estimator("sklearn.svm.SVC", {"C2": 1.0})
    assert str(exc.value) == "model.params.C2: not a parameter of SVC; did you mean model.params.C?"


def test_resolve_estimator_missing_required_argument_is_named():
    with pytest.raises(UserError) as exc:
        resolve_estimator("sklearn.multiclass.OneVsRestClassifier", {})
    assert str(exc.value) == ("model.params: OneVsRestClassifier needs estimator (a required "
                              "argument of its constructor; give it under model.params)")


def test_resolve_estimator_class_typo_suggests_the_nearest_class():
    with pytest.raises(UserError) as exc:
        resolve_estimator("sklearn.svm.LinerSVC", {})
    assert str(exc.value) == ("model.estimator: 'sklearn.svm' has no estimator class "
                              "'LinerSVC'; did you mean sklearn.svm.LinearSVC?")


def test_resolve_estimator_constructor_type_error_is_one_line():
    class Strict:
        """Takes **kwargs, so only calling it finds the bad keyword (like a C extension)."""

        def __init__(self, **kwargs):
            raise TypeError(f"Strict() got an unexpected keyword argument {next(iter(kwargs))!r}")

        def fit(self, X, y):
            return self

    import types

    module = types.ModuleType("fake_estimators")
    module.Strict = Strict
    import sys

    sys.modules["fake_estimators"] = module
    try:
        with pytest.raises(UserError) as exc:
            resolve_estimator("fake_estimators.Strict", {"C2": 1})
    finally:
        del sys.modules["fake_estimators"]
    assert str(exc.value) == "model.params: Strict(): Strict() got an unexpected keyword " \
                             "argument 'C2'"


def test_train_drops_rows_without_a_target(mixed):
    c = contract_mod.infer(mixed, "y")
    unlabelled = pd.concat([mixed, pd.DataFrame({"a": [3.0], "c": ["x"], "y": [None]})],
                           ignore_index=True)
    bundle = train(unlabelled, c, lr(), seed=0)
    assert bundle["class_counts"] == {"p": 4, "q": 4}


def test_check_excluded_rejects_a_contract_that_still_has_the_column(mixed):
    c = contract_mod.infer(mixed, "y")
    check_excluded(c, ("not_a_column",))
    with pytest.raises(UserError) as exc:
        check_excluded(c, ("c",))
    assert str(exc.value) == ("data.exclude: 'c' is still a feature in the contract; re-infer "
                              "it (gitops-ml contract infer --force) or remove the column there")


def test_train_handles_missing_values_and_unknown_categories(mixed):
    c = contract_mod.infer(mixed, "y")
    bundle = train(mixed, c, lr(), seed=0)
    assert bundle["task"] == "binary" and bundle["classes"] == ["p", "q"]
    unseen = pd.DataFrame({"a": [None], "c": ["never-seen"], "y": ["p"]})
    assert bundle["pipeline"].predict(model_frame(unseen, c))[0] in {"p", "q"}


def test_train_passes_the_seed_to_estimators_with_random_state(mixed):
    c = contract_mod.infer(mixed, "y")
    cfg = ModelConfig("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 3})
    bundle = train(mixed, c, cfg, seed=11)
    assert bundle["pipeline"].named_steps["estimator"].random_state == 11


def test_model_frame_marks_missing_categories_as_empty_strings(mixed):
    c = contract_mod.infer(mixed, "y")
    X = model_frame(mixed, c)
    assert list(X.columns) == ["a", "c"]
    assert X["c"].tolist()[3] == "" and MISSING_CATEGORY not in set(X["c"])


def test_model_frame_turns_categories_into_their_str_as_before(mixed):
    # the per-distinct-value conversion must give exactly what str() per row gave
    df = mixed.assign(c=pd.Series([3, "3", None, float("nan"), True, "x", 2.5, pd.NA],
                                  dtype=object))
    c = contract_mod.infer(mixed, "y")
    X = model_frame(df, c)
    assert X["c"].tolist() == ["3", "3", "", "", "True", "x", "2.5", ""]


def test_tree_models_get_no_scaler_and_linear_models_do(mixed):
    c = contract_mod.infer(mixed, "y")
    for estimator, scaled in (("sklearn.ensemble.HistGradientBoostingClassifier", False),
                              ("sklearn.linear_model.LogisticRegression", True)):
        pipeline = train(mixed, c, ModelConfig(estimator, {}), seed=0)["pipeline"]
        numeric = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
        assert ("scale" in numeric.named_steps) is scaled, estimator
