from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gitops_ml.config import DataConfig, SyntheticConfig
from gitops_ml.errors import UserError
from gitops_ml.sources import ingest, make_synthetic


@pytest.mark.parametrize(("name", "rows", "classes"), [
    ("breast_cancer", 569, {"benign", "malignant"}),
    ("wine", 178, {"class_0", "class_1", "class_2"}),
    ("iris", 150, {"setosa", "versicolor", "virginica"}),
])
def test_ingest_sklearn_classification_datasets_have_named_labels(name, rows, classes, tmp_path):
    df = ingest(DataConfig(f"sklearn:{name}", "label"), 0, tmp_path)
    assert len(df) == rows
    assert set(df["label"]) == classes


def test_ingest_sklearn_diabetes_is_a_numeric_target(tmp_path):
    df = ingest(DataConfig("sklearn:diabetes", "progression"), 0, tmp_path)
    assert df.shape == (442, 11)
    assert pd.api.types.is_float_dtype(df["progression"])


def test_ingest_sklearn_feature_names_are_snake_case(tmp_path):
    df = ingest(DataConfig("sklearn:breast_cancer", "diagnosis"), 0, tmp_path)
    assert "mean_radius" in df.columns and "worst_concave_points" in df.columns


def test_ingest_unknown_sklearn_dataset_names_the_key(tmp_path):
    with pytest.raises(UserError, match=r"^data\.source: unknown scikit-learn dataset 'mnist'"):
        ingest(DataConfig("sklearn:mnist", "y"), 0, tmp_path)


def test_ingest_missing_file_names_the_key(tmp_path):
    with pytest.raises(UserError, match=r"^data\.source: file not found: .*nope\.csv"):
        ingest(DataConfig("data/nope.csv", "y"), 0, tmp_path)


def test_ingest_absent_target_names_the_key(tmp_path):
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(UserError, match=r"^data\.target: column 'y' not found .*columns: a, b"):
        ingest(DataConfig("d.csv", "y"), 0, tmp_path)


def test_ingest_empty_csv_is_rejected(tmp_path):
    (tmp_path / "d.csv").write_text("a,y\n")
    with pytest.raises(UserError, match=r"^data\.source: 'd\.csv' has no rows"):
        ingest(DataConfig("d.csv", "y"), 0, tmp_path)


def test_ingest_reads_parquet(tmp_path: Path):
    pd.DataFrame({"a": [1.0, 2.0], "y": ["p", "q"]}).to_parquet(tmp_path / "d.parquet")
    assert ingest(DataConfig("d.parquet", "y"), 0, tmp_path).shape == (2, 2)


def test_ingest_rejects_unsupported_file_type(tmp_path):
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(UserError, match=r"data\.source: unsupported file type '\.xlsx'"):
        ingest(DataConfig("d.xlsx", "y"), 0, tmp_path)


def test_synthetic_has_requested_shape_missing_values_and_categories():
    cfg = SyntheticConfig(rows=5000, numeric=5, categorical=3, categories=4, missing_rate=0.1,
                          classes=3)
    df = make_synthetic(cfg, "y", seed=1)
    assert df.shape == (5000, 9)
    assert set(df["y"]) == {"class_0", "class_1", "class_2"}
    assert set(df["cat_00"].dropna()) == {"c0", "c1", "c2", "c3"}
    missing = df.drop(columns="y").isna().mean()
    assert ((missing > 0.07) & (missing < 0.13)).all()


def test_synthetic_is_seeded():
    cfg = SyntheticConfig(rows=100)
    pd.testing.assert_frame_equal(make_synthetic(cfg, "y", 7), make_synthetic(cfg, "y", 7))
    assert not make_synthetic(cfg, "y", 7).equals(make_synthetic(cfg, "y", 8))


def test_synthetic_labels_are_the_column_pandas_makes_of_the_same_strings():
    import numpy as np

    from gitops_ml.sources import _labels

    codes = np.array([2, 0, 1, 2, 0])
    missing = np.array([False, True, False, False, False])
    labels = _labels(codes, ["c0", "c1", "c2"], missing=missing)
    expected = pd.Series(["c2", None, "c1", "c2", "c0"])
    pd.testing.assert_series_equal(labels, expected)
    assert labels.dtype == expected.dtype


def test_synthetic_regression_target_is_numeric():
    df = make_synthetic(SyntheticConfig(rows=200, classes=0), "y", 0)
    assert pd.api.types.is_float_dtype(df["y"])


def test_ingest_appends_labelled_batches_after_the_source(tmp_path):
    from gitops_ml.sources import batch_files

    base = ingest(DataConfig("sklearn:iris", "species"), 0, tmp_path)
    (tmp_path / "batches").mkdir()
    base.head(7).to_parquet(tmp_path / "batches" / "b1.parquet")
    base.tail(3).to_csv(tmp_path / "batches" / "b2.csv", index=False)
    (tmp_path / "batches" / "README.md").write_text("not data")
    files = batch_files(tmp_path / "batches")
    assert [f.name for f in files] == ["b1.parquet", "b2.csv"]
    df = ingest(DataConfig("sklearn:iris", "species"), 0, tmp_path, batches=files)
    assert len(df) == 160
    pd.testing.assert_frame_equal(df.iloc[150:157].reset_index(drop=True), base.head(7))


def test_ingest_batch_with_other_columns_is_named(tmp_path):
    pd.DataFrame({"x": [1.0]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(UserError, match=r"batch .*b\.csv: columns differ from data\.source"):
        ingest(DataConfig("sklearn:iris", "species"), 0, tmp_path, batches=[tmp_path / "b.csv"])


def grades_csv(path: Path) -> Path:
    """A symptom graded None/Some/Marked (None the commonest), a country code column where
    Namibia is `NA`, blanks, and a number column with `NA` for missing."""
    rows = ["severity,country,dose"] + [f"None,DE,{i}" for i in range(6)] + [
        "Some,NA,NA", "Some,FR,1", "Marked,NA,2", "Marked,,3", ",DE,4"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_ingest_keeps_a_level_named_none_and_reads_na_as_missing_by_default(tmp_path):
    grades_csv(tmp_path / "grades.csv")
    df = ingest(DataConfig("grades.csv", "severity"), 0, tmp_path)
    assert df["severity"].tolist()[:6] == ["None"] * 6
    assert df["severity"].isna().sum() == 1                      # the blank cell
    assert df["country"].isna().sum() == 3                       # NA twice, one blank
    assert pd.api.types.is_numeric_dtype(df["dose"]) and df["dose"].isna().sum() == 1


def test_ingest_reads_exactly_the_na_values_setting(tmp_path):
    grades_csv(tmp_path / "grades.csv")
    df = ingest(DataConfig("grades.csv", "severity", na_values=("", "None")), 0, tmp_path)
    assert df["severity"].isna().sum() == 7
    assert df["country"].tolist().count("NA") == 2               # NA is a country now
    assert df["dose"].tolist().count("NA") == 1


def test_na_values_default_is_pandas_list_without_none():
    from gitops_ml.io import NA_VALUES

    assert set(pd._libs.parsers.STR_NA_VALUES) - set(NA_VALUES) == {"None"}
    assert DataConfig("x.csv", "y").na_values == NA_VALUES


def test_missing_tokens_counts_what_reading_turned_into_missing(tmp_path):
    from gitops_ml.sources import missing_tokens

    grades_csv(tmp_path / "grades.csv")
    assert missing_tokens(DataConfig("grades.csv", "severity"), tmp_path) == {
        "country": {"NA": 2}, "dose": {"NA": 1}}
    cfg = DataConfig("grades.csv", "severity", na_values=("", "NA", "None"))
    assert missing_tokens(cfg, tmp_path)["severity"] == {"None": 6}
    assert missing_tokens(DataConfig("sklearn:iris", "y"), tmp_path) == {}
