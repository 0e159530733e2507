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
    assert failures[0]["check"] == "at least 10 labelled rows"


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


def test_committed_contract_matches_the_default_dataset(project_root, new_project, tmp_path):
    project = new_project(tmp_path)                    # this project's own params and data
    assert project.ingest() == 0
    raw = pd.read_parquet(project.path("raw.parquet"))
    c = contract_mod.load(project_root / "contract.yaml")
    assert contract_mod.validate(raw, c)["passed"]


@pytest.fixture
def passengers() -> pd.DataFrame:
    """A Titanic-like table: a row number, an ID, names, a fare with stray text, booleans."""
    n = 40
    rng = np.random.default_rng(0)
    fare = [f"{v:.2f}" for v in rng.uniform(5, 80, n)]
    fare[3], fare[17] = "n/a", "?"
    return pd.DataFrame({
        "rownames": range(1, n + 1),
        "ticket": [f"T-{i:04d}" for i in rng.permutation(n)],
        "name": [f"Passenger {i}, Mr. X{i}" for i in range(n)],
        "age": rng.uniform(1, 80, n).round(1),
        "sex": rng.choice(["female", "male"], n),
        "fare": fare,
        "alone": rng.choice([True, False], n),
        "survived": rng.choice(["no", "yes"], n),
    })


def test_infer_excludes_ids_names_and_stray_numeric_text_and_says_why(passengers):
    c = contract_mod.infer(passengers, "survived")
    assert c.feature_names == ["age", "sex", "alone"]
    reasons = dict(c.excluded)
    assert reasons["rownames"].startswith("identifier: named like one")
    assert reasons["ticket"] == "identifier: a distinct value on each of 40 rows"
    assert reasons["name"].startswith("identifier: named like one")
    assert reasons["fare"].startswith("mostly numeric: 2 of 40 values are not numbers "
                                      "(e.g. 'n/a', '?')")


def test_infer_excludes_an_unnamed_increasing_row_number_but_keeps_other_integers():
    df = pd.DataFrame({"n": range(100, 130), "visits": [i % 7 for i in range(30)],
                       "y": ["a", "b"] * 15})
    c = contract_mod.infer(df, "y")
    assert c.feature_names == ["visits"]
    assert dict(c.excluded) == {"n": "identifier: a distinct, increasing number on each of "
                                     "30 rows"}


def test_infer_keeps_a_mostly_text_column_as_categories():
    df = pd.DataFrame({"size": ["S", "M", "L", "3"] * 10, "y": ["a", "b"] * 20})
    assert contract_mod.infer(df, "y").features[0].categories == ("3", "L", "M", "S")


def test_infer_drops_columns_named_in_exclude(passengers):
    c = contract_mod.infer(passengers, "survived", exclude=["sex"])
    assert "sex" not in c.feature_names and dict(c.excluded)["sex"] == "data.exclude"


@pytest.mark.parametrize(("column", "message"), [
    ("cabin", r"^data\.exclude: column 'cabin' not in the data"),
    ("survived", r"^data\.exclude: 'survived' is the target"),
])
def test_infer_rejects_a_bad_exclude(passengers, column, message):
    with pytest.raises(UserError, match=message):
        contract_mod.infer(passengers, "survived", exclude=[column])


def test_excluded_columns_round_trip_and_are_not_checked(passengers, tmp_path):
    c = contract_mod.infer(passengers, "survived")
    contract_mod.dump(c, tmp_path / "c.yaml")
    assert contract_mod.load(tmp_path / "c.yaml") == c
    report = contract_mod.validate(passengers.assign(ticket=None, fare="anything"), c)
    assert report["passed"] and report["excluded_columns"] == ["rownames", "ticket", "name",
                                                               "fare"]
    # and a data file without them passes too
    assert contract_mod.validate(passengers[["age", "sex", "alone", "survived"]], c)["passed"]


def test_validate_counts_unlabelled_rows_instead_of_failing(passengers):
    labelled = contract_mod.infer(passengers, "survived")
    with_gaps = passengers.assign(survived=passengers["survived"].where(
        passengers.index % 10 != 0, None))
    assert contract_mod.infer(with_gaps, "survived") == labelled
    report = contract_mod.validate(with_gaps, labelled)
    assert report["passed"] and report["unlabelled_rows_dropped"] == 4


def test_validate_needs_min_rows_labelled(passengers):
    c = contract_mod.infer(passengers, "survived")
    c = contract_mod.Contract(c.target, c.features, min_rows=39, excluded=c.excluded)
    report = contract_mod.validate(passengers.assign(survived=None), c)
    assert not report["passed"] and report["unlabelled_rows_dropped"] == 40
    assert report["failures"][0]["check"] == "at least 39 labelled rows"


def test_infer_widens_the_regression_target_range():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 10,
                       "price": [10.5, 20.5, 30.5, 110.5] * 10})
    target = contract_mod.infer(df, "price", margin=0.1).target
    assert (target.min, target.max) == (0.5, 120.5)
    nullable = df.assign(price=df["price"].where(df.index != 0, np.nan))
    assert contract_mod.validate(nullable, contract_mod.infer(df, "price"))["passed"]


def test_boolean_feature_and_target_pass_the_contract_of_their_own_data(passengers, tmp_path):
    df = passengers.assign(survived=passengers["survived"] == "yes")
    c = contract_mod.infer(df, "survived")
    alone = c.features[c.feature_names.index("alone")]
    assert (alone.dtype, alone.categories) == ("boolean", ("False", "True"))
    assert (c.target.dtype, c.target.categories) == ("boolean", ("False", "True"))
    contract_mod.dump(c, tmp_path / "c.yaml")
    assert contract_mod.load(tmp_path / "c.yaml") == c
    assert contract_mod.validate(df, c)["passed"]
    # with missing values pandas keeps booleans as objects: still booleans
    gaps = df.assign(alone=df["alone"].astype(object).where(df.index != 1, None))
    assert contract_mod.validate(gaps, contract_mod.infer(gaps, "survived"))["passed"]
    report = contract_mod.validate(df.assign(alone=1), c)
    assert {(f["column"], f["check"]) for f in report["failures"]} == {("alone", "is_boolean")}


def test_validate_stage_counts_unlabelled_rows_and_passes(example_project, capsys):
    raw = pd.read_parquet(example_project.path("raw.parquet"))
    raw.loc[[0, 7, 9], "diagnosis"] = None
    raw.to_parquet(example_project.path("raw.parquet"))
    assert example_project.validate() == 0
    assert capsys.readouterr().out.endswith(
        f"validate: 569 rows pass {example_project.contract}; "
        "unlabelled rows dropped: 3 (no 'diagnosis')\n")
    report = json.loads(example_project.path("reports/data_validation.json").read_text())
    assert report["passed"] and report["unlabelled_rows_dropped"] == 3


def test_contract_infer_cli_drops_data_exclude_and_lists_it(tmp_path, new_project, mixed_csv,
                                                            capsys):
    project = new_project(tmp_path)
    project.params["data"] = {"source": str(mixed_csv(tmp_path / "grades.csv")),
                              "target": "grade", "exclude": ["shape"]}
    assert project.ingest() == 0 and project.infer_contract() == 0
    assert "contract: excluded 'shape': data.exclude" in capsys.readouterr().out
    c = contract_mod.load(project.contract)
    assert c.feature_names == ["size", "weight", "colour"]
    assert c.excluded == (("shape", "data.exclude"),)
    assert project.validate() == 0


def test_infer_reports_a_missing_token_in_a_text_column_as_a_possible_level():
    df = pd.DataFrame({"country": ["DE", "FR", None, None, "DE"], "dose": [1.0, None, 2, 3, 4],
                       "y": ["a", "b", None, "a", "b"]})
    tokens = {"country": {"NA": 2}, "dose": {"NA": 1}, "y": {"None": 1, "#N/A": 0}}
    found = contract_mod.infer(df, "y", missing_tokens=tokens).missing_levels
    # the target first: its rows are dropped; a number column's NA is plainly missing
    assert [(m.column, m.token, m.rows, m.target) for m in found] == [
        ("y", "None", 1, True), ("country", "NA", 2, False)]
    assert found[0].note.startswith("'y': 1 cell(s) hold 'None', read as missing "
                                    "(data.na_values), so those rows become unlabelled")
    assert "remove it from data.na_values in params.yaml" in found[1].note


def test_infer_never_takes_a_spreadsheet_error_code_for_a_level():
    df = pd.DataFrame({"c": ["x", None, "z"], "y": [0, 1, 0]})
    assert contract_mod.infer(df, "y", missing_tokens={"c": {"#N/A": 1}}).missing_levels == ()


@pytest.mark.parametrize("values", [
    [f"2024-01-{d:02d}" for d in range(1, 29)],
    [f"2024-01-{d:02d}T09:30:00Z" for d in range(1, 29)],
    [f"{d}/01/2024" for d in range(1, 29)],
    list(pd.date_range("2024-01-01", periods=28)),
])
def test_infer_excludes_a_date_column_as_a_date_not_an_identifier(values):
    df = pd.DataFrame({"when": values, "x": np.random.default_rng(0).normal(size=28),
                       "y": [0, 1] * 14})
    contract = contract_mod.infer(df, "y")
    reason = dict(contract.excluded)["when"]
    assert reason.startswith("date: values such as") and "split.order_by" in reason
    assert contract.feature_names == ["x"]


def test_infer_keeps_text_that_only_looks_like_numbers_and_dashes():
    df = pd.DataFrame({"code": ["12-34", "56-78"] * 10, "y": [0, 1] * 10})
    assert contract_mod.infer(df, "y").feature_names == ["code"]


def test_validate_lets_missing_values_through_range_and_level_checks_of_a_nullable_column():
    # the range and level checks keep missing values (no copy without them); a missing value
    # is nullable's business, and a real failure still reads with pandera's built-in name
    df = pd.DataFrame({"x": [1.0, None, 2.0, 3.0], "c": ["a", None, "b", "a"],
                       "y": ["p", "q", None, "p"]})
    c = contract_mod.infer(df, "y", margin=0.0)
    assert contract_mod.validate(df, c)["passed"]
    bad = df.assign(x=[1.0, None, 9.0, None], c=["a", None, "z", None])
    found = {(f["column"], f["check"]): f for f in contract_mod.validate(bad, c)["failures"]}
    assert found == {
        ("x", "less_than_or_equal_to(3.0)"): {"column": "x", "check": "less_than_or_equal_to(3.0)",
                                              "failing": 1, "examples": [9.0]},
        ("c", "isin(['a', 'b'])"): {"column": "c", "check": "isin(['a', 'b'])", "failing": 1,
                                    "examples": ["z"]},
    }
