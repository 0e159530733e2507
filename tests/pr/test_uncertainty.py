"""The paired bootstrap: point values equal the pipeline's metrics, intervals cover the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from gitops_ml import metrics
from gitops_ml.report import uncertainty
from gitops_ml.report.uncertainty import Interval, Settings

SETTINGS = Settings(seed=7, resamples=300)


def _scores(rng: np.random.Generator, y: np.ndarray, k: int, noise: float) -> np.ndarray:
    s = np.exp(2 * (np.eye(k)[y] + rng.normal(0, noise, (len(y), k))))
    return s / s.sum(axis=1, keepdims=True)


def _by_name(estimates: list[uncertainty.Estimate]) -> dict[str, uncertainty.Estimate]:
    return {e.metric: e for e in estimates}


@pytest.mark.parametrize(("k", "positive"), [(2, 1), (2, 0), (3, 1)])
def test_classification_points_equal_the_pipeline_metrics(k: int, positive: int) -> None:
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 500)
    base, head = _scores(rng, y, k, 0.8), _scores(rng, y, k, 0.9)
    base[:20] = base[20]          # tied scores, which ROC AUC counts as half
    got = _by_name(uncertainty.classification(
        y, base.argmax(1), head.argmax(1), n_classes=k, positive=positive, settings=SETTINGS,
        base_scores=base, head_scores=head))
    for scores, side in ((base, "base"), (head, "head")):
        want = metrics.classification_metrics(y, scores.argmax(1), scores, list(range(k)),
                                              positive=positive)
        assert set(got) == set(want)
        for name, value in want.items():
            assert round(getattr(got[name], side), metrics.DIGITS) == value, (name, side)


def test_regression_points_equal_the_pipeline_metrics() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=400)
    base, head = y + rng.normal(0, 0.5, 400), y + rng.normal(0, 0.6, 400)
    got = _by_name(uncertainty.regression(y, base, head, settings=SETTINGS))
    for pred, side in ((base, "base"), (head, "head")):
        for name, value in metrics.regression_metrics(y, pred).items():
            assert round(getattr(got[name], side), metrics.DIGITS) == value, (name, side)


def test_bootstrap_is_reproducible_from_the_seed() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    base, head = _scores(rng, y, 2, 0.8), _scores(rng, y, 2, 0.9)

    def run(seed: int) -> list[uncertainty.Estimate]:
        return uncertainty.classification(y, base.argmax(1), head.argmax(1), n_classes=2,
                                          positive=1, settings=Settings(seed=seed, resamples=200),
                                          base_scores=base, head_scores=head)

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_bootstrap_of_identical_models_gives_a_zero_difference_interval() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    scores = _scores(rng, y, 3, 1.0)
    for e in uncertainty.classification(y, scores.argmax(1), scores.argmax(1), n_classes=3,
                                        positive=1, settings=SETTINGS, base_scores=scores,
                                        head_scores=scores):
        assert e.delta_interval == Interval(0.0, 0.0), e.metric
        assert e.base_interval == e.head_interval


def test_bootstrap_resamples_within_each_class() -> None:
    weights = uncertainty._weights(np.random.default_rng(0), [5, 3], 50)
    assert weights.shape == (50, 8)
    assert (weights[:, :5].sum(axis=1) == 5).all()
    assert (weights[:, 5:].sum(axis=1) == 3).all()


def test_bootstrap_of_a_perfect_model_has_a_degenerate_interval() -> None:
    y = np.array([0, 1] * 50)
    (acc,) = [e for e in uncertainty.classification(y, y, 1 - y, n_classes=2, positive=1,
                                                     settings=SETTINGS) if e.metric == "accuracy"]
    assert (acc.base, acc.head) == (1.0, 0.0)
    assert acc.base_interval == Interval(1.0, 1.0)
    assert acc.delta_interval == Interval(-1.0, -1.0)


def test_linear_auc_agrees_with_the_exact_resampled_auc(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4000)
    base, head = _scores(rng, y, 2, 1.5), _scores(rng, y, 2, 1.6)

    def auc() -> uncertainty.Estimate:
        return _by_name(uncertainty.classification(
            y, base.argmax(1), head.argmax(1), n_classes=2, positive=1, settings=SETTINGS,
            base_scores=base, head_scores=head))["roc_auc"]

    exact = auc()
    monkeypatch.setattr(uncertainty, "EXACT_AUC_ROWS", 0)
    linear = auc()
    assert (linear.base, linear.head) == pytest.approx((exact.base, exact.head), abs=1e-12)
    width = exact.delta_interval.high - exact.delta_interval.low
    assert linear.delta_interval.low == pytest.approx(exact.delta_interval.low, abs=0.05 * width)
    assert linear.delta_interval.high == pytest.approx(exact.delta_interval.high, abs=0.05 * width)


def test_bootstrap_without_rows_says_so() -> None:
    with pytest.raises(ValueError, match="no evaluation rows"):
        uncertainty.regression(np.array([]), np.array([]), np.array([]), settings=SETTINGS)


def test_settings_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="resamples"):
        Settings(seed=0, resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        Settings(seed=0, confidence=1.0)


# --- coverage: simulated datasets whose true difference is known ------------------------------

DATASETS = 200


def _accuracy_case(rng: np.random.Generator) -> tuple[float, uncertainty.Estimate]:
    # Rows' (base right, head right) from a fixed joint law: true Δ accuracy = 0.82 - 0.85.
    n = 400
    y = np.repeat([0, 1], n // 2)
    joint = rng.choice(4, size=n, p=[0.78, 0.07, 0.04, 0.11])   # RR, RW, WR, WW
    base_ok, head_ok = np.isin(joint, [0, 1]), np.isin(joint, [0, 2])
    est = _by_name(uncertainty.classification(
        y, np.where(base_ok, y, 1 - y), np.where(head_ok, y, 1 - y), n_classes=2, positive=1,
        settings=Settings(seed=int(rng.integers(2**32)), resamples=400)))
    return 0.82 - 0.85, est["accuracy"]


def _auc_case(rng: np.random.Generator) -> tuple[float, uncertainty.Estimate]:
    # Binormal scores with correlated noise: AUC = Φ(shift / √2) for each model.
    n = 300
    y = np.repeat([0, 1], n // 2)
    noise = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n)
    base, head = y * 1.2 + noise[:, 0], y * 1.0 + noise[:, 1]
    est = _by_name(uncertainty.classification(
        y, (base > 0.6).astype(int), (head > 0.5).astype(int), n_classes=2, positive=1,
        settings=Settings(seed=int(rng.integers(2**32)), resamples=400),
        base_scores=np.column_stack([-base, base]), head_scores=np.column_stack([-head, head]),
        probabilistic=False))
    return norm.cdf(1.0 / math.sqrt(2)) - norm.cdf(1.2 / math.sqrt(2)), est["roc_auc"]


def _mae_case(rng: np.random.Generator) -> tuple[float, uncertainty.Estimate]:
    # Normal errors: MAE = σ √(2/π).
    n = 300
    y = rng.normal(size=n)
    err = rng.multivariate_normal([0, 0], [[0.25, 0.2], [0.2, 0.3025]], size=n)
    est = _by_name(uncertainty.regression(
        y, y + err[:, 0], y + err[:, 1],
        settings=Settings(seed=int(rng.integers(2**32)), resamples=400)))
    return (0.55 - 0.5) * math.sqrt(2 / math.pi), est["mae"]


@pytest.mark.parametrize("case", [_accuracy_case, _auc_case, _mae_case],
                         ids=["accuracy", "roc_auc", "mae"])
def test_difference_interval_covers_the_true_difference_about_95_percent(case) -> None:
    rng = np.random.default_rng(2026)
    covered = 0
    for _ in range(DATASETS):
        truth, est = case(rng)
        covered += est.delta_interval.low <= truth <= est.delta_interval.high
    # 95% of 200: a binomial standard error of 1.5 points; ±4-5 points is about three of them.
    assert 0.90 <= covered / DATASETS <= 0.99
