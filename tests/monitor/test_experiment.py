"""`gitops-ml experiment`: the verdict's statistical honesty on simulated logs, and the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from simlog import joined, simulate, write

from gitops_ml import cli, config
from gitops_ml.errors import UserError
from gitops_ml.monitor import experiment

SEEDS = range(200)


def verdicts(cfg: config.ExperimentConfig, **kwargs) -> list[str]:
    return [experiment.analyse(joined(seed, **kwargs), cfg, True)["verdict"] for seed in SEEDS]


def test_experiment_aa_canary_promotes_in_at_most_alpha_of_200_seeds():
    cfg = config.ExperimentConfig(min_samples=300, alpha=0.05)
    found = verdicts(cfg, requests=24, rows=50, mode="canary", champion=0.8, challenger=0.8)
    assert found.count("promote") <= cfg.alpha * len(SEEDS), found.count("promote")


def test_experiment_aa_shadow_of_two_equally_good_models_promotes_in_at_most_alpha():
    # independent errors at the same accuracy: the paired test sees real disagreement
    cfg = config.ExperimentConfig(min_samples=300, alpha=0.05)
    found = verdicts(cfg, requests=24, rows=50, mode="shadow", champion=0.8, challenger=0.8)
    assert found.count("promote") <= cfg.alpha * len(SEEDS), found.count("promote")


@pytest.mark.parametrize("mode", ["canary", "shadow"])
def test_experiment_finds_a_challenger_better_by_min_lift_at_the_stated_power(mode):
    cfg = config.ExperimentConfig(min_samples=100, min_lift=0.05, alpha=0.05, power=0.8)
    p_a, p_b = 0.80, 0.85
    # independent errors, so both designs have the variance of the sum
    per_model = experiment.rows_needed(p_a * (1 - p_a) + p_b * (1 - p_b), cfg)
    assert per_model == 903  # (1.960 + 0.842)^2 * 0.2875 / 0.05^2
    rows = 50
    requests = math.ceil(per_model / rows) * (2 if mode == "canary" else 1)
    found = verdicts(cfg, requests=requests, rows=rows, mode=mode, champion=p_a, challenger=p_b)
    rate = found.count("promote") / len(SEEDS)
    # two binomial standard errors below the stated power, so a correct rule passes
    assert rate >= cfg.power - 2 * math.sqrt(cfg.power * (1 - cfg.power) / len(SEEDS)), rate


def test_experiment_identical_models_in_shadow_keep_the_champion():
    report = experiment.analyse(joined(1, requests=20, identical=True),
                                config.ExperimentConfig(), True)
    assert report["agreement"] == 1.0
    assert report["test"]["lift"] == 0.0
    assert report["verdict"] == "keep"


def test_experiment_worse_challenger_is_kept():
    report = experiment.analyse(joined(2, requests=40, champion=0.9, challenger=0.8),
                                config.ExperimentConfig(), True)
    assert report["verdict"] == "keep"
    assert report["test"]["upper"] < 0


def test_experiment_below_min_samples_is_inconclusive_whatever_the_difference():
    report = experiment.analyse(joined(3, requests=4, champion=0.6, challenger=0.99),
                                config.ExperimentConfig(min_samples=500), True)
    assert report["verdict"] == "inconclusive"
    assert report["why"] == ("200 labelled rows for the smaller arm, fewer than "
                             "experiment.min_samples = 500")


def test_experiment_log_loss_is_the_mean_of_minus_log_true_class_probability():
    cfg = config.ExperimentConfig(metric="log_loss")
    report = experiment.analyse(joined(4, requests=20, champion=0.75, challenger=0.75), cfg, True)
    df = joined(4, requests=20, champion=0.75, challenger=0.75)
    champion = df[df["role"] == "champion"]
    right = (champion["prediction"] == champion["label"]).mean()
    expected = -(right * np.log(0.8) + (1 - right) * np.log(0.2))
    assert report["models"]["champion"]["metric"]["value"] == pytest.approx(expected)


def test_experiment_regression_metric_on_a_classifier_names_the_key():
    with pytest.raises(UserError, match=r"^experiment\.metric: mae is a regression metric"):
        experiment.analyse(joined(5, requests=4), config.ExperimentConfig(metric="mae"), True)


def test_experiment_log_without_a_challenger_is_an_error():
    df = joined(6, requests=4, mode="canary", canary=0.0)
    with pytest.raises(UserError, match=r"^--log: no challenger predictions"):
        experiment.analyse(df, config.ExperimentConfig(), True)


def test_experiment_config_unknown_key_names_the_nearest():
    with pytest.raises(UserError, match=r"^experiment\.min_lfit: unknown key; did you mean "
                                        r"experiment\.min_lift\?$"):
        config.ExperimentConfig.from_params({"experiment": {"min_lfit": 0.1}})


def test_experiment_cli_writes_json_and_markdown_from_log_files(tmp_path, example_params_file):
    records, labels = simulate(7, requests=40, champion=0.8, challenger=0.9)
    log = write(records[:20], tmp_path / "logs" / "predictions-a.jsonl")
    write(records[20:], log.parent / "predictions-b.jsonl")
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out_json, out_md = tmp_path / "experiment.json", tmp_path / "experiment.md"
    base = ["experiment", "--params", str(example_params_file), "--log",
            str(log.parent), "--out-json", str(out_json), "--out-md", str(out_md)]
    assert cli.main(base) == 0
    unlabelled = json.loads(out_json.read_text())
    assert unlabelled["verdict"] == "inconclusive" and unlabelled["design"] == "shadow"
    assert unlabelled["models"]["challenger"]["rows"] == 2000
    assert cli.main([*base, "--labels", str(tmp_path / "labels.csv")]) == 0
    report = json.loads(out_json.read_text())
    assert report["verdict"] == "promote"
    assert report["models"]["champion"]["version"] == "v1"
    assert out_md.read_text().startswith("## ✅ Experiment verdict: **promote**")


@pytest.mark.parametrize("mode", ["canary", "shadow"])
def test_experiment_simulated_frame_is_what_the_log_reader_makes_of_the_log(mode):
    from gitops_ml.monitor import outcomes

    records, labels = simulate(8, requests=6, rows=5, mode=mode)
    read = outcomes.join(outcomes.frame(records), labels.rename(columns={"diagnosis": "label"}))
    built = joined(8, requests=6, rows=5, mode=mode)
    key = ["served", "request_id", "row"]
    read, built = (f.sort_values(key).reset_index(drop=True) for f in (read, built))
    assert read.attrs == built.attrs
    pd.testing.assert_frame_equal(read.drop(columns="probabilities"),
                                  built.drop(columns="probabilities"), check_dtype=False)
    assert np.allclose(np.stack(read["probabilities"]), np.stack(built["probabilities"]))
