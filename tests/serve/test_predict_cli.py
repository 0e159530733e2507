"""`gitops-ml predict`: the server's model and validation over a file, in chunks."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gitops_ml import cli


def run(model, *args: str) -> int:
    return cli.main(["predict", *args, "--model-dir", str(model.dir)])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_scores_every_row_in_chunks_like_the_server(tmp_path, mixed_model, mixed_client,
                                                           suffix):
    test = pd.read_parquet(mixed_model.test)
    source = tmp_path / f"in{suffix}"
    test.to_csv(source, index=False) if suffix == ".csv" else test.to_parquet(source)
    out = tmp_path / "out.parquet"
    assert run(mixed_model, str(source), "-o", str(out), "--chunk-rows", "7",
               "--keep", mixed_model.target) == 0
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["grade", "label", "proba_high", "proba_low", "proba_mid"]
    assert len(scored) == len(test)
    records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
               for r in test.drop(columns=["grade"]).to_dict("records")]
    served = mixed_client.post("/predict", json=records).json()["predictions"]
    assert scored["label"].tolist() == [p["label"] for p in served]
    assert scored["proba_mid"].tolist() == pytest.approx(
        [p["probabilities"]["mid"] for p in served], abs=1e-6)


def test_predict_writes_csv(tmp_path, mixed_model):
    out = tmp_path / "out.csv"
    assert run(mixed_model, str(mixed_model.test), "-o", str(out)) == 0
    assert pd.read_csv(out).columns.tolist() == ["label", "proba_high", "proba_low", "proba_mid"]


def test_predict_names_the_bad_row_and_leaves_no_output(tmp_path, mixed_model, capsys):
    df = pd.read_parquet(mixed_model.test)
    df.loc[12, "weight"] = None
    df.loc[15, "shape"] = "hexagon"
    source, out = tmp_path / "bad.parquet", tmp_path / "out.parquet"
    df.to_parquet(source)
    assert run(mixed_model, str(source), "-o", str(out), "--chunk-rows", "10") == 2
    err = capsys.readouterr().err
    assert "row 12, weight: missing" in err and "row 15, shape: unknown category" in err
    assert "hexagon" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [source]


def test_predict_names_a_missing_column(tmp_path, mixed_model, capsys):
    source = tmp_path / "in.csv"
    pd.read_parquet(mixed_model.test).drop(columns=["shape"]).to_csv(source, index=False)
    assert run(mixed_model, str(source), "-o", str(tmp_path / "o.csv")) == 2
    assert "column(s) missing: shape" in capsys.readouterr().err


def test_predict_can_allow_unknown_categories(tmp_path, mixed_model):
    df = pd.read_parquet(mixed_model.test)
    df.loc[0, "shape"] = "hexagon"
    source = tmp_path / "in.parquet"
    df.to_parquet(source)
    assert run(mixed_model, str(source), "-o", str(tmp_path / "o.parquet"),
               "--allow-unknown-categories") == 0


def test_predict_writes_values_for_a_regressor(tmp_path, regression_model):
    out = tmp_path / "out.parquet"
    assert run(regression_model, str(regression_model.test), "-o", str(out)) == 0
    assert pd.read_parquet(out).columns.tolist() == ["value"]


@pytest.mark.parametrize(("value", "error"), [
    (3.5e38, "number out of range (this model takes magnitudes up to "),
    (float("inf"), "not a finite number")])
def test_predict_refuses_numbers_beyond_float32_instead_of_writing_nan(tmp_path, mixed_model,
                                                                      capsys, value, error):
    df = pd.read_parquet(mixed_model.test)
    df["weight"] = df["weight"].astype(float)
    df.loc[3, "weight"] = value
    source, out = tmp_path / "big.parquet", tmp_path / "out.parquet"
    df.to_parquet(source)
    assert run(mixed_model, str(source), "-o", str(out)) == 2
    assert f"row 3, weight: {error}" in capsys.readouterr().err
    assert not out.exists()


def test_predict_refuses_a_row_that_would_overflow_the_model(tmp_path, regression_model, capsys):
    # values within float32 whose weighted sum would overflow (inf - inf in the model) lie far
    # beyond each feature's limit, so they are refused before scoring, naming the fields
    df = pd.read_parquet(regression_model.test).head(3)
    numbers = [c for c in df.columns if c != regression_model.target]
    df[numbers] = df[numbers].astype(float)
    df.loc[1, numbers] = [3e38 if i % 2 else -3e38 for i in range(len(numbers))]
    source, out = tmp_path / "huge.parquet", tmp_path / "out.parquet"
    df.to_parquet(source)
    assert run(regression_model, str(source), "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "row 1, " in err and "number out of range (this model takes magnitudes" in err
    assert not out.exists()
