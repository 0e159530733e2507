"""Fairness per protected column: hand-checked rates and gaps that agree with fairlearn's own."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as fm

from gitops_ml import fairness
from gitops_ml.errors import UserError

# Group A: 6 rows, 3 truly "yes"; B: 4 rows, 2 truly "yes". Hand counts are in each test.
TABLE = pd.DataFrame({
    "group": list("AAAAAABBBB"),
    "label": ["yes", "yes", "yes", "no", "no", "no", "yes", "yes", "no", "no"],
})
PRED = np.array(["yes", "yes", "no", "yes", "no", "no", "yes", "no", "no", "no"])


def assess(min_group_size: int = 1, **kw) -> dict:
    args = dict(target="label", task="binary", classes=["no", "yes"], protected=("group",),
                positive="yes", min_group_size=min_group_size, seed=0) | kw
    return fairness.assess(TABLE, PRED, **args)


def test_classification_rates_per_group_match_hand_counts():
    groups = {g["group"]: g for g in assess()["columns"]["group"]["groups"]}
    # A: predicted yes 3/6; of the 3 true yes, 2 predicted yes; of the 3 true no, 1.
    assert groups["A"]["selection_rate"]["value"] == 0.5
    assert groups["A"]["true_positive_rate"]["value"] == round(2 / 3, 6)
    assert groups["A"]["false_positive_rate"]["value"] == round(1 / 3, 6)
    # B: predicted yes 1/4; of the 2 true yes, 1; of the 2 true no, 0.
    assert groups["B"]["selection_rate"]["value"] == 0.25
    assert groups["B"]["true_positive_rate"] == {"value": 0.5, "n": 2,
                                                 "ci": fairness.wilson(1, 2)}
    assert groups["B"]["false_positive_rate"]["value"] == 0.0


def test_classification_gaps_match_hand_values_and_fairlearn():
    gaps = assess()["columns"]["group"]["gaps"]
    # DP: 0.5 - 0.25 and 0.25 / 0.5; EO: max(|2/3 - 1/2|, |1/3 - 0|) and min(0.75, 0 / (1/3)).
    assert gaps == {"demographic_parity_difference": 0.25, "demographic_parity_ratio": 0.5,
                    "equalized_odds_difference": round(1 / 3, 6), "equalized_odds_ratio": 0.0}
    y, p, g = (TABLE["label"] == "yes").astype(int), (PRED == "yes").astype(int), TABLE["group"]
    assert gaps["demographic_parity_difference"] == pytest.approx(
        fm.demographic_parity_difference(y, p, sensitive_features=g))
    assert gaps["demographic_parity_ratio"] == pytest.approx(
        fm.demographic_parity_ratio(y, p, sensitive_features=g))
    assert gaps["equalized_odds_difference"] == pytest.approx(
        fm.equalized_odds_difference(y, p, sensitive_features=g), abs=1e-6)
    assert gaps["equalized_odds_ratio"] == pytest.approx(
        fm.equalized_odds_ratio(y, p, sensitive_features=g))


def test_wilson_interval_matches_the_formula():
    # 1 success in 4: centre (p + z²/2n) / (1 + z²/n), half-width z·sqrt(p(1-p)/n + z²/4n²) / (…)
    z, p, n = 1.959963984540054, 0.25, 4
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert fairness.wilson(1, 4) == pytest.approx([centre - half, centre + half], abs=1e-6)
    assert fairness.wilson(0, 0) is None


def test_small_groups_are_marked_and_left_out_of_the_gaps():
    result = assess(min_group_size=5)["columns"]["group"]
    assert [(g["group"], g["too_small"]) for g in result["groups"]] == [("A", False),
                                                                         ("B", True)]
    assert result["judged_groups"] == 1
    assert set(result["gaps"].values()) == {None}    # one judged group: nothing to compare


def test_regression_error_per_group_and_largest_gap():
    df = pd.DataFrame({"group": list("AAAABBBB"), "y": [0.0, 1, 2, 3, 0, 1, 2, 3]})
    pred = np.array([1.0, 2, 3, 4, 3, 4, 5, 6])        # A off by 1, B off by 3
    report = fairness.assess(df, pred, target="y", task="regression", classes=None,
                             protected=("group",), positive=None, min_group_size=1,
                             seed=0)
    result = report["columns"]["group"]
    assert [g["mae"]["value"] for g in result["groups"]] == [1.0, 3.0]
    assert result["gaps"] == {"mae_difference": 2.0, "mae_ratio": round(1 / 3, 6)}
    frame = fm.MetricFrame(metrics=lambda t, p: np.mean(np.abs(t - p)), y_true=df["y"],
                           y_pred=pred, sensitive_features=df["group"])
    assert result["gaps"]["mae_difference"] == pytest.approx(frame.difference())


def test_missing_values_form_their_own_group():
    df = TABLE.assign(group=["A", None, "A", "A", "A", "A", "B", "B", "B", "B"])
    groups = [g["group"] for g in fairness.assess(
        df, PRED, target="label", task="binary", classes=["no", "yes"], protected=("group",),
        positive="yes", min_group_size=1, seed=0)["columns"]["group"]["groups"]]
    assert groups == ["(missing)", "A", "B"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"protected": ("sex",)}, "evaluate.protected: column(s) sex not in the test data"),
    ({"protected": ("label",)}, "evaluate.protected: 'label' is the target"),
    ({"positive": "maybe"}, "evaluate.positive_class: 'maybe' is not a class"),
])
def test_assess_names_the_bad_setting(kw, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        assess(**kw)


def test_a_continuous_column_must_be_binned_first():
    df = pd.DataFrame({"age": np.arange(100.0), "label": ["yes", "no"] * 50})
    with pytest.raises(UserError, match="evaluate.protected: column 'age' has 100 distinct"):
        fairness.assess(df, np.array(["yes"] * 100), target="label", task="binary",
                        classes=["no", "yes"], protected=("age",), positive="yes",
                        min_group_size=1, seed=0)
