"""`gitops-ml quality`: windows, intervals, the k-of-n alarm, and the command on log files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from simlog import START, joined, simulate, write

from gitops_ml import cli, config
from gitops_ml.errors import UserError
from gitops_ml.monitor import quality

DAY = 86400
FLOORS = {"accuracy": 0.9}


def days(*accuracies: float, requests: int = 4) -> pd.DataFrame:
    """One window per day, the champion right with the given probability on each."""
    parts = [joined(i, requests=requests, rows=25, champion=acc, start=START + i * DAY)
             for i, acc in enumerate(accuracies)]
    df = pd.concat(parts, ignore_index=True)
    df.attrs = parts[0].attrs
    return df


def test_quality_wilson_interval_matches_the_published_value():
    # Wilson (1927); 8 of 10 at 95%: 0.490 to 0.943 (Newcombe 1998, table I)
    low, high = quality.wilson(8, 10, 0.95)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)


def test_quality_alarms_when_floors_break_in_k_of_the_last_n_windows():
    report = quality.assess(days(0.99, 0.99, 0.6, 0.99, 0.6), FLOORS,
                            config.QualityConfig(breaches=2, of_last=3, bootstrap=0))
    (model,) = report["models"]
    assert [bool(w["broken"]) for w in model["windows"]] == [False, False, True, False, True]
    assert (model["broken_recent"], model["judged_recent"]) == (2, 3)
    assert report["alarm"] is True


def test_quality_one_broken_window_of_three_does_not_alarm():
    report = quality.assess(days(0.6, 0.99, 0.6, 0.99, 0.99), FLOORS,
                            config.QualityConfig(breaches=2, of_last=3, bootstrap=0))
    assert report["models"][0]["broken_recent"] == 1
    assert report["alarm"] is False


def test_quality_window_with_too_few_rows_is_shown_but_not_judged():
    report = quality.assess(days(0.6, 0.6, requests=1), FLOORS,
                            config.QualityConfig(min_rows=30, breaches=1, of_last=1))
    assert [w["rows"] for w in report["models"][0]["windows"]] == [25, 25]
    assert [w["judged"] for w in report["models"][0]["windows"]] == [False, False]
    assert report["alarm"] is False


def test_quality_window_metrics_have_intervals_around_them():
    report = quality.assess(days(0.8, requests=20), {"accuracy": 0.5, "roc_auc": 0.5},
                            config.QualityConfig(bootstrap=200))
    (window,) = report["models"][0]["windows"]
    for metric in ("accuracy", "roc_auc"):
        low, high = window["intervals"][metric]
        assert low < window["metrics"][metric] < high


def test_quality_vectorised_bootstrap_agrees_with_scikit_learn():
    import numpy as np

    df = days(0.8, requests=8)
    classes = df.attrs["classes"]
    y = np.array([classes.index(v) for v in df["label"]])
    pred = np.array([classes.index(v) for v in df["prediction"]])
    proba = np.array(df["probabilities"].tolist())
    idx = np.random.default_rng(0).integers(0, len(y), (3, len(y)))
    for metric in ("roc_auc", "log_loss", "f1", "precision", "recall", "balanced_accuracy"):
        fast = quality._vectorised(metric, y, pred, proba, classes, 1, idx)
        slow = [quality._single(metric, y[i], pred[i], proba[i], classes, 1) for i in idx]
        assert fast == pytest.approx(slow), metric


def test_quality_serves_only_models_that_answered():
    # shadow rows (the challenger's) are an experiment's business, not a quality alarm's
    report = quality.assess(joined(1, requests=4, mode="shadow"), FLOORS,
                            config.QualityConfig(bootstrap=0))
    assert [m["role"] for m in report["models"]] == ["champion"]


def test_quality_config_breaches_above_of_last_is_an_error():
    with pytest.raises(UserError, match=r"^quality\.breaches: 4 is more than quality\.of_last"):
        config.QualityConfig.from_params({"quality": {"breaches": 4, "of_last": 3}})


def test_quality_config_window_must_be_a_width():
    with pytest.raises(UserError, match=r"^quality\.window: expected a width such as 30m"):
        config.QualityConfig.from_params({"quality": {"window": "daily"}})


def test_quality_cli_exits_3_on_alarm_and_writes_the_labelled_batch(tmp_path, example_params_file):
    records = []
    for i, acc in enumerate((0.99, 0.5, 0.5)):
        part, labels_i = simulate(i, requests=4, rows=25, champion=acc, start=START + i * DAY)
        records += part
        labels_i.to_csv(tmp_path / "labels.csv", mode="a", header=i == 0, index=False)
    log = write(records, tmp_path / "logs" / "predictions-x.jsonl")
    out = tmp_path / "quality.json"
    code = cli.main(["quality", "--params", str(example_params_file), "--log",
                     str(log.parent), "--labels", str(tmp_path / "labels.csv"), "--out-json",
                     str(out), "--out-md", str(tmp_path / "quality.md"), "--out-batch",
                     str(tmp_path / "batch.parquet")])
    assert code == quality.ALARM_EXIT
    report = json.loads(out.read_text())
    assert report["alarm"] is True and report["rows"] == 300
    batch = pd.read_parquet(tmp_path / "batch.parquet")
    assert list(batch.columns) == ["x", "diagnosis"] and len(batch) == 300


def test_quality_labels_without_request_id_name_the_column(tmp_path, example_params_file):
    pd.DataFrame({"diagnosis": ["benign"]}).to_csv(tmp_path / "labels.csv", index=False)
    write(simulate(0, requests=1)[0], tmp_path / "log.jsonl")
    code = cli.main(["quality", "--params", str(example_params_file), "--log",
                     str(tmp_path / "log.jsonl"), "--labels", str(tmp_path / "labels.csv"),
                     "--out-json", str(tmp_path / "q.json"), "--out-md", str(tmp_path / "q.md")])
    assert code == 2
    assert not (tmp_path / "q.json").exists()


def test_quality_integer_labels_with_a_gap_join_as_the_logged_class_names(tmp_path):
    from gitops_ml.monitor import outcomes

    (tmp_path / "labels.csv").write_text("request_id,row,y\nr1,0,1\nr1,1,\nr2,0,0\n")
    labels = outcomes.read_labels(tmp_path / "labels.csv", "y")
    assert labels["label"].astype(str).tolist() == ["1", "0"]


def test_quality_log_without_probabilities_reports_no_auc():
    df = days(0.8, requests=4)
    df["probabilities"] = None
    report = quality.assess(df, {"accuracy": 0.5, "roc_auc": 0.5},
                            config.QualityConfig(bootstrap=0))
    assert "roc_auc" not in report["models"][0]["windows"][0]["metrics"]
    assert report["metrics_not_computed"] == ["roc_auc"]
