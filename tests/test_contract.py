from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gitops_ml import contract as contract_mod
from gitops_ml.errors import UserError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "size": [1.0, 2.5, np.nan, 4.0],
        "count": [1, 2, 3, 4],
        "colour": ["red", "blue", None, "red"],
        "label": ["yes", "no", "yes", "no"],
    })


def test_infer_reads_dtypes_nullability_and_categories(frame):
    c = contract_mod.infer(frame, "label")
    specs = {f.name: f for f in c.features}
    assert specs["size"].dtype == "float" and specs["size"].nullable
    assert specs["count"].dtype == "integer" and not specs["count"].nullable
    assert specs["colour"].categories == ("blue", "red")
    assert c.target.categories == ("no", "yes")


def test_infer_widens_ranges_but_keeps_non_negative_columns_non_negative(frame):
    size = {f.name: f for f in contract_mod.infer(frame, "label", margin=0.1).features}["size"]
    assert size.min == pytest.approx(0.7) and size.max == pytest.approx(4.3)
    count = {f.name: f for f in contract_mod.infer(frame, "label", margin=1.0).features}["count"]
    assert count.min == 0.0 and count.max == 7.0


def test_infer_rejects_absent_target(frame):
    with pytest.raises(UserError, match=r"^data\.target: column 'y' not in the data"):
        contract_mod.infer(frame, "y")


def test_contract_round_trips_through_yaml(frame, tmp_path):
    c = contract_mod.infer(frame, "label")
    contract_mod.dump(c, tmp_path / "c.yaml")
    assert contract_mod.load(tmp_path / "c.yaml") == c


def test_validate_passes_the_data_it_was_inferred_from(frame):
    report = contract_mod.validate(frame, contract_mod.infer(frame, "label"))
    assert report == {"passed": True, "rows": 4, "columns": 4, "failed_checks": 0, "failures": []}


def test_validate_lists_every_failed_check_with_counts_and_examples(frame):
    c = contract_mod.infer(frame, "label", margin=0.0)
    bad = frame.copy()
    bad.loc[0, "size"] = 99.0
    bad.loc[1, "size"] = 50.0
    bad.loc[0, "colour"] = "purple"
    bad.loc[1, "count"] = -3
    bad.loc[2, "label"] = "maybe"
    bad = bad.drop(columns="count").assign(extra=1)
    report = contract_mod.validate(bad, c)
    assert not report["passed"]
    found = {(f["column"], f["check"]): f for f in report["failures"]}
    assert found[("size", "less_than_or_equal_to(4.0)")]["failing"] == 2
    assert found[("size", "less_than_or_equal_to(4.0)")]["examples"] == [99.0, 50.0]
    assert found[("colour", "isin(['blue', 'red'])")]["examples"] == ["purple"]
    assert found[("label", "isin(['no', 'yes'])")]["examples"] == ["maybe"]
    checks = {f["check"]: f["examples"] for f in report["failures"] if f["column"] is None}
    assert checks["column_in_dataframe"] == ["count"]
    assert checks["column_in_schema"] == ["extra"]
    assert report["failed_checks"] == len(report["failures"]) == 5


def test_validate_reports_nulls_in_non_nullable_column(frame):
    c = contract_mod.infer(frame, "label")
    bad = frame.assign(count=[1.0, np.nan, 3.0, 4.0])
    failures = contract_mod.validate(bad, c)["failures"]
    assert {(f["column"], f["check"]) for f in failures} >= {("count", "not_nullable")}


def test_validate_reports_too_few_rows(frame):
    c = contract_mod.infer(frame, "label")
    c = contract_mod.Contract(c.target, c.features, min_rows=10)
    failures = contract_mod.validate(frame, c)["failures"]
    assert failures[0]["check"] == "at least 10 rows"


def test_validate_stage_fails_with_every_check_and_still_writes_report(example_project, capsys):
    project = example_project
    raw = pd.read_parquet(project.path("raw.parquet"))
    raw.loc[:2, "mean_radius"] = 1000.0
    raw.loc[5, "diagnosis"] = "unknown"
    raw.to_parquet(project.path("raw.parquet"))
    assert project.validate() == 2
    err = capsys.readouterr().err
    assert "2 check(s) failed" in err
    assert "column 'mean_radius': less_than_or_equal_to(30.2229) failed for 3 value(s)" in err
    assert "column 'diagnosis': isin(['benign', 'malignant']) failed for 1 value(s)" in err
    report = json.loads(project.path("reports/data_validation.json").read_text())
    assert report["passed"] is False and report["failed_checks"] == 2


def test_load_rejects_unknown_dtype(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "target: {name: y, dtype: string}\nfeatures:\n  a: {dtype: decimal}\n")
    with pytest.raises(UserError, match=r"features\.a\.dtype: must be one of float, integer"):
        contract_mod.load(tmp_path / "c.yaml")


def test_load_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(UserError, match=r"contract file not found: .*gitops-ml contract infer"):
        contract_mod.load(tmp_path / "none.yaml")


def test_committed_contract_matches_the_default_dataset(project_root, project):
    assert project.ingest() == 0
    raw = pd.read_parquet(project.path("raw.parquet"))
    c = contract_mod.load(project_root / "contract.yaml")
    assert contract_mod.validate(raw, c)["passed"]
