"""The template's own model_tests.yaml judges models, not noise: a model that differs from main
only by the data it was retrained on passes it, and one that leans on fractal dimension fails.
(Issue 21, "gates that judge the model, not noise"; the calibration is in model_tests.yaml.)
Under tests/template/: it is about the template's data and model_tests.yaml, which `init`
replaces in a fork (and removes this directory with the rest of the template's machinery)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from gitops_ml import config, contract, sources
from gitops_ml import model_tests as mt
from gitops_ml.io import write_bytes, write_json
from gitops_ml.model_tests_spec import parse
from gitops_ml.serve.model import OnnxModel
from gitops_ml.stages.export import metadata_for, onnx_input_names, to_onnx
from gitops_ml.stages.split import split
from gitops_ml.stages.train import train
from pipelines.monitor import simulate_batch

ROOT = Path(__file__).resolve().parents[2]
FRACTAL = "fractal dimension within its usual range barely matters"
# The same test as it stood when the monitor's retraining pull request failed it (10 of 154 rows)
BEFORE = {"name": FRACTAL, "kind": "invariance", "column": "mean_fractal_dimension",
          "range": [0.054, 0.075], "tolerance": 0.1}
# The day the monitor scenario's retraining PR went red (its batch is seeded by the date)
RED_DAY = dt.date(2026, 12, 6).toordinal()


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    params = config.load(ROOT / "params.yaml")
    tests = yaml.safe_load((ROOT / "model_tests.yaml").read_text())["tests"]
    return {"params": params, "contract": contract.load(ROOT / "contract.yaml"),
            "raw": sources.load_sklearn("breast_cancer", params.data.target),
            "fractal": parse({"tests": [t for t in tests if t["name"] == FRACTAL]})}


def served(df: pd.DataFrame, project: dict[str, Any], out: Path) -> tuple[mt.Scorer, pd.DataFrame]:
    """What `dvc repro` makes of `df` as the ingested data: the ONNX model and its test set."""
    params = project["params"]
    train_df, test_df = split(df, params.data.target, "binary", params.split.test_size,
                              params.seed)
    bundle = train(train_df, project["contract"], params.model, params.seed)
    onnx = to_onnx(bundle)
    write_bytes(onnx, out / "model.onnx")
    write_json(metadata_for(bundle, name="model", metrics={}, params={}, data_sha256="0" * 64,
                            train_rows=len(train_df), parity_report={},
                            inputs=onnx_input_names(onnx)), out / "model.json")
    return mt.Scorer(OnnxModel.load(out)), test_df


def with_simulated_batch(project: dict[str, Any], tmp_path: Path, seed: int) -> pd.DataFrame:
    raw = tmp_path / "raw.parquet"
    project["raw"].to_parquet(raw, index=False)
    batch = simulate_batch(raw, project["params"].data.target, tmp_path / "batch.parquet", seed,
                           features=project["contract"].feature_names)
    return sources.append_batches(project["raw"], [batch], project["params"].data.na_values)


def test_main_retrained_on_a_simulated_drift_batch_passes(project, tmp_path):
    scorer, test_df = served(with_simulated_batch(project, tmp_path, RED_DAY), project, tmp_path)
    [before] = mt.run(parse({"tests": [BEFORE]}), scorer, test_df)
    assert not before["passed"] and before["failing"] == 10      # the red retraining PR
    [result] = mt.run(project["fractal"], scorer, test_df)
    assert result["passed"], result


def test_a_model_leaning_on_fractal_dimension_fails(project, tmp_path):
    # labels from main's own log-odds plus 3 standard deviations of fractal dimension: a model
    # that learned it as a cue of malignancy
    params, df = project["params"], project["raw"].copy()
    scorer, _ = served(df, project, tmp_path / "main")
    proba = np.clip(scorer(df).proba[:, 1], 1e-9, 1 - 1e-9)
    logit = np.log(proba / (1 - proba))
    col = df["mean_fractal_dimension"]
    classes = list(scorer.meta.classes)
    df[params.data.target] = np.where(logit + 3 * (col - col.mean()) / col.std() > 0,
                                      classes[1], classes[0])
    leaning, test_df = served(df, project, tmp_path / "leaning")
    [result] = mt.run(project["fractal"], leaning, test_df)
    assert not result["passed"] and result["failing"] > 5, result
