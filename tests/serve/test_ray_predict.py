"""`gitops-ml predict --ray-address local`: Ray Data scores like the CLI, and fails as cleanly.

Marked `ray`: needs the optional `ray` dependency group. `.ci/run` runs these with
`uv run --group ray pytest -m ray`; the default run deselects them (pyproject.toml).
"""

from __future__ import annotations

import pandas as pd
import pytest

from gitops_ml import cli

pytestmark = pytest.mark.ray


def predict(model, *args: str) -> int:
    return cli.main(["predict", *args, "--model-dir", str(model.dir)])


@pytest.fixture
def source(tmp_path, mixed_model):
    df = pd.read_parquet(mixed_model.test)
    df["row_id"] = range(len(df))
    path = tmp_path / "in.csv"
    df.to_csv(path, index=False)
    return path


def test_ray_predict_scores_every_row_like_the_cli(tmp_path, mixed_model, source, capsys):
    local, on_ray = tmp_path / "local.parquet", tmp_path / "on_ray"
    assert predict(mixed_model, str(source), "-o", str(local), "--keep", "row_id") == 0
    assert predict(mixed_model, str(source), "-o", str(on_ray), "--keep", "row_id",
                   "--chunk-rows", "7", "--ray-address", "local", "--ray-workers", "2") == 0
    rows = len(pd.read_csv(source))
    assert f"predict: {rows} rows scored with" in capsys.readouterr().out
    expected = pd.read_parquet(local)
    # Ray Data does not keep row order across blocks: compare by the kept id.
    got = pd.read_parquet(on_ray).sort_values("row_id", ignore_index=True)
    assert list(got.columns) == list(expected.columns)
    assert got["row_id"].tolist() == list(range(rows))
    assert got["label"].tolist() == expected["label"].tolist()
    for column in [c for c in expected if c.startswith("proba_")]:
        assert got[column].tolist() == pytest.approx(expected[column].tolist(), abs=1e-7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "local.parquet", "on_ray"]


def test_ray_predict_names_the_bad_row_and_leaves_no_output(tmp_path, mixed_model, capsys):
    df = pd.read_parquet(mixed_model.test)
    df["row_id"] = range(100, 100 + len(df))
    df.loc[12, "weight"] = None
    source, out = tmp_path / "bad.parquet", tmp_path / "out"
    df.to_parquet(source)
    assert predict(mixed_model, str(source), "-o", str(out), "--keep", "row_id",
                   "--ray-address", "local", "--ray-workers", "1") == 2
    err = capsys.readouterr().err
    assert "row_id=112), weight: missing" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet"]   # nothing half-written


@pytest.mark.parametrize(("extra", "message"), [
    (["--ray-workers", "0"], "--ray-workers: must be >= 1"),
    (["-o", "out.csv"], "--output: with --ray-address the output is a directory of Parquet"),
    (["--keep", "label"], "--keep: label would clash with a prediction column"),
])
def test_ray_predict_refuses_bad_options_before_starting_ray(tmp_path, mixed_model, source,
                                                            extra, message, capsys):
    args = [str(source), "-o", str(tmp_path / "out"), "--ray-address", "local", *extra]
    assert predict(mixed_model, *args) == 2
    assert message in capsys.readouterr().err


def test_ray_predict_refuses_an_existing_output(tmp_path, mixed_model, source, capsys):
    (tmp_path / "out").mkdir()
    assert predict(mixed_model, str(source), "-o", str(tmp_path / "out"),
                   "--ray-address", "local") == 2
    assert "--output: " in capsys.readouterr().err
