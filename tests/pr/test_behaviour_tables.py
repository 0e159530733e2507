"""PR report tables of the model_tests stage: fairness per group and behavioural tests."""

from __future__ import annotations

from gitops_ml.report import behaviour


def group(name, n, sr, too_small=False):
    return {"group": name, "n": n, "too_small": too_small,
            "selection_rate": {"value": sr, "n": n, "ci": [sr - 0.1, sr + 0.1]},
            "true_positive_rate": {"value": 0.9, "n": n // 2, "ci": [0.8, 0.95]},
            "false_positive_rate": {"value": 0.1, "n": n // 2, "ci": None}}


def report(sr_f, gap):
    return {"task": "binary", "min_group_size": 30, "columns": {"sex": {
        "groups": [group("f", 60, sr_f), group("x", 4, 1.0, too_small=True)],
        "gaps": {"demographic_parity_difference": gap}}}}


def test_fairness_table_shows_main_and_pr_per_group_with_intervals():
    text = behaviour.fairness_tables(report(0.5, 0.1), report(0.4, 0.2), max_groups=10)
    assert "| f | 60 | 0.400 | 0.500 [0.400, 0.600] | 0.900 | 0.900 [0.800, 0.950] | 0.100 " \
           "| 0.100 |" in text
    assert "| x ⚠️ too small | 4 |" in text
    assert "| demographic_parity_difference | 0.2000 | 0.1000 |" in text
    assert "Groups under 30 rows are marked too small" in text


def test_fairness_table_on_a_first_pull_request_has_no_main_values():
    text = behaviour.fairness_tables(report(0.5, 0.1), None, max_groups=10)
    assert "| f | 60 | — | 0.500 [0.400, 0.600] |" in text


def test_fairness_table_is_empty_without_protected_columns():
    assert behaviour.fairness_tables({"columns": {}}, None, max_groups=10) == ""


def test_model_tests_table_counts_failing_rows_on_main_and_in_the_pr():
    head = {"tests": [{"name": "mono", "kind": "directional", "passed": False, "warn_only": False,
                       "failing": 3, "rows": 100,
                       "examples": [{"row": 7, "score_before": 0.6, "score_after": 0.4}]}],
            "robustness": {"flip_rate": 0.02, "noise": 0.05, "category_swap": 0.1}}
    base = {"tests": [{"name": "mono", "failing": 0, "rows": 100}],
            "robustness": {"flip_rate": 0.01}}
    text = behaviour.model_tests_table(head, base)
    assert "| mono | directional | 0/100 | 3/100 | ❌ | row 7, score_before 0.6, " \
           "score_after 0.4 |" in text
    assert "Robustness: 0.0200 of predictions flip" in text and "(main: 0.0100)" in text
