"""The evaluate stage's checks of its config against the trained model."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from gitops_ml import contract as contract_mod
from gitops_ml.config import EvaluateConfig, ModelConfig
from gitops_ml.errors import UserError
from gitops_ml.stages.evaluate import evaluate
from gitops_ml.stages.train import train


def test_evaluate_positive_class_on_a_multiclass_task_is_a_config_error():
    df = load_iris(as_frame=True).frame
    df["target"] = pd.Series(load_iris().target_names[df["target"]])
    c = contract_mod.infer(df, "target")
    bundle = train(df, c, ModelConfig("sklearn.svm.LinearSVC", {}), seed=0)
    with pytest.raises(UserError) as exc:
        evaluate(bundle, df, EvaluateConfig(positive_class="setosa", importance_repeats=0), 0)
    assert str(exc.value) == ("evaluate.positive_class: only for binary tasks; this task is "
                              "multiclass")
