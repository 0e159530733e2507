from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gitops_ml.config import MonitorConfig, SyntheticConfig
from gitops_ml.errors import UserError
from gitops_ml.monitor.drift import categorical_drift, detect, numeric_drift, psi
from gitops_ml.sources import make_synthetic

CFG = MonitorConfig()  # the defaults shipped in params.yaml


@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    """One distribution: a reference sample and many current samples are drawn from it."""
    return make_synthetic(SyntheticConfig(rows=40_000, numeric=8, categorical=3, categories=6,
                                          missing_rate=0.03), "y", seed=5)


@pytest.fixture(scope="module")
def features(pool) -> list[tuple[str, bool]]:
    return [(c, c.startswith("num_")) for c in pool.columns if c != "y"]


@pytest.fixture(scope="module")
def reference(pool) -> pd.DataFrame:
    return pool.iloc[:5000]


def draw(pool: pd.DataFrame, seed: int, n: int = 500) -> pd.DataFrame:
    rest = pool.iloc[5000:]
    return rest.iloc[np.random.default_rng(seed).choice(len(rest), n, replace=False)]


def test_psi_is_zero_for_identical_histograms_and_grows_with_shift():
    same = psi(np.array([10, 20, 30]), np.array([10, 20, 30]))
    assert same == pytest.approx(0.0, abs=1e-12)
    assert psi(np.array([10, 20, 30]), np.array([30, 20, 10])) > 0.5


def test_numeric_drift_uses_reference_quantile_bins():
    ref = np.arange(1000, dtype=float)
    result = numeric_drift(ref, ref.copy(), bins=10)
    assert result["psi"] == pytest.approx(0.0, abs=1e-9) and result["p_value"] == 1.0


def test_categorical_drift_counts_unseen_categories():
    ref = np.array(["a"] * 50 + ["b"] * 50, dtype=object)
    cur = np.array(["a"] * 40 + ["b"] * 40 + ["zzz"] * 20, dtype=object)
    result = categorical_drift(ref, cur)
    assert result["unseen_share"] == 0.2 and result["unseen_examples"] == ["zzz"]


def test_detect_false_alarm_rate_on_in_distribution_batches_is_within_alpha(pool, reference,
                                                                          features):
    seeds = 200
    alarms = sum(detect(reference, draw(pool, seed), features, CFG)["drift"]
                 for seed in range(seeds))
    print(f"false alarms: {alarms}/{seeds} (allowed share {CFG.alpha})")
    assert alarms / seeds <= CFG.alpha


def test_detect_alarms_on_shifted_mean_and_names_the_feature(pool, reference, features):
    batch = draw(pool, 1).copy()
    batch["num_03"] = batch["num_03"] + batch["num_03"].std() * 0.5
    result = detect(reference, batch, features, CFG)
    assert result["drifted"] == ["num_03"]
    assert "distribution shifted" in result["features"]["num_03"]["reasons"][0]


def test_detect_alarms_on_a_new_category_and_names_the_feature(pool, reference, features):
    batch = draw(pool, 2).copy()
    batch.iloc[:50, batch.columns.get_loc("cat_01")] = "brand-new"
    result = detect(reference, batch, features, CFG)
    assert result["drifted"] == ["cat_01"]
    assert result["features"]["cat_01"]["unseen_examples"] == ["brand-new"]


def test_detect_alarms_on_a_changed_missing_rate_and_names_the_feature(pool, reference,
                                                                      features):
    batch = draw(pool, 3).copy()
    batch.iloc[:100, batch.columns.get_loc("num_05")] = np.nan
    result = detect(reference, batch, features, CFG)
    assert "num_05" in result["drifted"]
    assert any("missing rate" in r for r in result["features"]["num_05"]["reasons"])


def test_detect_alarms_on_prediction_drift(pool, reference, features):
    batch = draw(pool, 4)
    ref_pred = np.where(np.arange(len(reference)) % 2 == 0, "a", "b")
    cur_pred = np.where(np.arange(len(batch)) % 10 == 0, "a", "b")
    result = detect(reference, batch, features, CFG, ref_pred, cur_pred)
    assert result["drifted"] == ["(prediction)"]


def test_detect_rejects_too_small_batch(pool, reference, features):
    with pytest.raises(UserError, match=r"fewer than monitor\.min_rows \(100\)"):
        detect(reference, draw(pool, 0, n=50), features, CFG)


def test_detect_rejects_batch_without_a_feature(pool, reference, features):
    with pytest.raises(UserError, match=r"feature column\(s\) missing: num_00"):
        detect(reference, draw(pool, 0).drop(columns="num_00"), features, CFG)
