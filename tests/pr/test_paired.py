"""Row-level changes between two models: flip counts, McNemar's exact test, differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from gitops_ml.report.paired import differences, flips, mcnemar_exact


@pytest.mark.parametrize(("wrong", "right"), [(0, 1), (1, 1), (3, 12), (12, 3), (7, 9), (40, 61)])
def test_mcnemar_exact_equals_scipy_binomtest_on_the_discordant_rows(wrong: int,
                                                                     right: int) -> None:
    want = binomtest(min(wrong, right), wrong + right, 0.5).pvalue
    assert mcnemar_exact(wrong, right) == pytest.approx(want, rel=1e-12)


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == 2 / 32           # 2 * P[X = 0], X ~ Bin(5, 1/2)
    assert mcnemar_exact(1, 5) == pytest.approx(2 * 7 / 64)


def test_flips_counts_each_kind_of_change() -> None:
    y =    np.array([0, 0, 1, 1, 2, 2, 2])          # noqa: E222
    base = np.array([0, 1, 1, 0, 0, 2, 2])
    head = np.array([0, 0, 0, 0, 1, 2, 1])
    got = flips(y, base, head)
    assert (got.rows, got.unchanged, got.changed) == (7, 3, 4)
    assert (got.newly_wrong, got.newly_right, got.still_wrong) == (2, 1, 1)
    assert got.mcnemar_p == 1.0


def test_differences_report_quantiles_of_head_minus_base() -> None:
    got = differences(np.zeros(101), np.arange(101.0))
    assert got.changed == 100
    assert got.quantiles[0.0] == 0.0 and got.quantiles[0.5] == 50.0 and got.quantiles[1.0] == 100
    assert got.quantiles[0.05] == 5.0
