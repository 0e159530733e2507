"""The feature schema: one set of rules for records, columns, v2 tensors and tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_ml.features import FLOAT32_MAX, Feature, FeatureSchema, InvalidInput

FEATURES = (Feature("x", "number", "float", nullable=False),
            Feature("y", "number", "float", nullable=True),
            Feature("c", "category", "string", nullable=True, categories=("a", "b"),
                    tensor="string"),
            Feature("flag", "boolean", "boolean", nullable=False, tensor="float"))
SCHEMA = FeatureSchema(FEATURES, reject_unknown_categories=True)
V2_TYPES = {"number": "FP64", "category": "BYTES", "boolean": "BOOL"}


def problems(exc: InvalidInput) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.field, p.error) for p in exc.problems]


def v2(records: list[dict]) -> list[dict]:
    return [{"name": f.name, "datatype": V2_TYPES[f.kind], "shape": [len(records), 1],
             "data": [r.get(f.name) for r in records]} for f in FEATURES]


def feeds_by_every_path(records: list[dict]) -> list[dict[str, np.ndarray]]:
    """The same rows as /predict records, v2 tensors, columns, a DataFrame."""
    columns = {f.name: [r.get(f.name) for r in records] for f in FEATURES}
    frame = pd.DataFrame({f.name: pd.Series(columns[f.name], dtype=object) for f in FEATURES})
    # as read from Parquet: the category in pandas' own string type, missing as NaN
    typed = frame.assign(c=frame["c"].astype("str"))
    return [SCHEMA.records(records, 1000)[0], SCHEMA.tensors(v2(records), 1000)[0],
            SCHEMA.columns(columns, len(records)), SCHEMA.frame(frame), SCHEMA.frame(typed)]


def test_feature_schema_builds_float32_and_string_columns():
    feeds, n = SCHEMA.records([{"x": 1, "y": None, "c": "a", "flag": True},
                               {"x": 2.5, "c": None, "flag": False}], 10)
    assert n == 2
    assert feeds["x"].dtype == np.float32 and feeds["x"].shape == (2, 1)
    assert feeds["x"].ravel().tolist() == [1.0, 2.5]
    assert np.isnan(feeds["y"]).all()
    assert feeds["c"].ravel().tolist() == ["a", ""]
    assert feeds["flag"].ravel().tolist() == [1.0, 0.0]


def test_feature_schema_feeds_a_string_boolean_as_python_spells_it():
    schema = FeatureSchema([Feature("b", "boolean", nullable=True, tensor="string")],
                           reject_unknown_categories=True)
    feeds, _ = schema.records([{"b": True}, {"b": False}, {"b": None}], 10)
    assert feeds["b"].ravel().tolist() == ["True", "False", ""]


@pytest.mark.parametrize(("value", "error"), [
    (3.5e38, "number out of range (float32 holds up to 3.4e38)"),
    (-3.5e38, "number out of range (float32 holds up to 3.4e38)"),
    (10**400, "number out of range (float32 holds up to 3.4e38)"),
    (math.inf, "not a finite number"),
    (True, "expected a number"),
    ("1.0", "expected a number"),
    (None, "missing"),
])
def test_feature_schema_refuses_numbers_the_model_cannot_take(value, error):
    with pytest.raises(InvalidInput) as info:
        SCHEMA.records([{"x": 1.0, "c": "a", "flag": True}, {"x": value, "c": "a", "flag": True}],
                       10)
    assert problems(info.value) == [(1, "x", error)]


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("value", [1e300, -3.5e38, 3.4028236e38])
def test_feature_schema_names_a_value_beyond_float32_without_an_overflow_warning(value):
    # the column path converts all clean columns at once; a value beyond float32 is never cast
    # (numpy would warn "overflow encountered in cast" before the value is named)
    columns = {"x": [1.0, value], "y": [None, 2.0], "c": ["a", "a"], "flag": [True, True]}
    with pytest.raises(InvalidInput) as info:
        SCHEMA.columns(columns, 2)
    assert problems(info.value) == [(1, "x", "number out of range (float32 holds up to 3.4e38)")]


def test_feature_schema_admits_float32_max():
    feeds, _ = SCHEMA.records([{"x": FLOAT32_MAX, "c": "a", "flag": True}], 10)
    assert feeds["x"][0, 0] == np.float32(FLOAT32_MAX)


def test_feature_schema_names_unknown_category_unexpected_field_and_wrong_boolean():
    with pytest.raises(InvalidInput) as info:
        SCHEMA.records([{"x": 1, "c": "zebra", "flag": 1, "extra": 0}], 10)
    assert problems(info.value) == [(0, "extra", "unexpected field"),
                                    (0, "c", "unknown category"),
                                    (0, "flag", "expected true or false")]


def test_feature_schema_treats_nan_as_missing_in_columns():
    with pytest.raises(InvalidInput) as info:
        SCHEMA.columns({"x": [1.0, float("nan")], "y": [float("nan"), 1.0], "c": ["a", "b"],
                        "flag": [True, True]}, 2, row_offset=100)
    assert problems(info.value) == [(101, "x", "missing")]


def test_feature_schema_checks_tables_with_the_same_rules():
    df = pd.DataFrame({"x": [1.0, np.inf, 5e38, np.nan], "y": [np.nan] * 4,
                       "c": ["a", None, "q", "b"], "flag": [True, False, True, False]})
    with pytest.raises(InvalidInput) as info:
        SCHEMA.frame(df, row_offset=10)
    assert problems(info.value) == [
        (11, "x", "not a finite number"),
        (12, "x", "number out of range (float32 holds up to 3.4e38)"),
        (12, "c", "unknown category"), (13, "x", "missing")]


@pytest.mark.parametrize("dtype", [object, "str"])
def test_feature_schema_feeds_a_table_category_column_with_missing_as_empty(dtype):
    df = pd.DataFrame({"x": [1.0] * 4, "y": [np.nan] * 4, "flag": [True] * 4,
                       "c": pd.Series(["a", None, "", "b"], dtype=dtype)})
    assert SCHEMA.frame(df)["c"].ravel().tolist() == ["a", "", "", "b"]


def test_feature_schema_names_what_is_not_a_category_in_a_table_column():
    df = pd.DataFrame({"x": [1.0] * 4, "y": [np.nan] * 4, "flag": [True] * 4,
                       "c": pd.Series(["a", 2.5, float("nan"), "q"], dtype=object)})
    with pytest.raises(InvalidInput) as info:
        SCHEMA.frame(df)
    assert problems(info.value) == [(1, "c", "expected a string"), (3, "c", "unknown category")]
    required = FeatureSchema([Feature("c", "category", "string", tensor="string")],
                             reject_unknown_categories=False)
    with pytest.raises(InvalidInput) as info:
        required.frame(pd.DataFrame({"c": pd.Series(["a", None, ""], dtype="str")}))
    assert problems(info.value) == [(1, "c", "missing"), (2, "c", "missing")]


def test_feature_schema_caps_the_error_body():
    with pytest.raises(InvalidInput) as info:
        SCHEMA.records([{"x": "bad", "c": "a", "flag": True}] * 150, 1000)
    body = info.value.body()
    assert len(body["errors"]) == 100 and body["errors_truncated"] == 50


def test_feature_schema_v2_refuses_an_empty_input_list_and_too_many_rows():
    with pytest.raises(InvalidInput) as empty:
        SCHEMA.tensors([], 10)
    assert problems(empty.value) == [(None, "inputs", "expected a non-empty list of tensors")]
    with pytest.raises(InvalidInput) as big:
        SCHEMA.tensors(v2([{"x": 1.0, "c": "a", "flag": True}] * 3), 2)
    assert problems(big.value) == [(None, "inputs", "too many rows: the limit is 2")]


# -- properties: every value the schema's types admit is fed, or refused naming the field -------

numbers = st.one_of(st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=False, allow_infinity=True, width=64))
scalar = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5))
anything = st.one_of(scalar, st.lists(st.integers(), max_size=2))
row = st.fixed_dictionaries(
    {"x": anything, "c": anything, "flag": anything},
    optional={"y": anything})
# A list inside a v2 tensor's `data` is row-major nesting, which the Open Inference Protocol
# allows ([[0]] for shape [1, 1]), so a record holding a list is not the same row on the v2 path;
# the every-path comparison uses JSON scalars only.
scalar_row = st.fixed_dictionaries(
    {"x": scalar, "c": scalar, "flag": scalar}, optional={"y": scalar})
good_row = st.fixed_dictionaries(
    {"x": st.floats(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX) | st.integers(-10**9, 10**9),
     "c": st.sampled_from(["a", "b", "", None]), "flag": st.booleans()},
    optional={"y": st.none() | st.floats(min_value=-1e30, max_value=1e30)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=5))
def test_feature_schema_feeds_finite_float32_or_names_row_and_field(records):
    try:
        feeds, n = SCHEMA.records(records, 1000)
    except InvalidInput as exc:
        assert exc.status_code == 422
        assert all(p.row is not None and p.field in {"x", "y", "c", "flag"}
                   for p in exc.problems)
        return
    assert n == len(records)
    for f in FEATURES:
        assert feeds[f.name].shape == (n, 1)
    assert np.isfinite(feeds["x"]).all()  # required: never NaN, never inf
    assert not np.isinf(feeds["y"]).any()


@settings(max_examples=200, deadline=None)
@given(st.lists(good_row, min_size=1, max_size=5))
def test_feature_schema_gives_the_same_feeds_on_every_path(records):
    first, *others = feeds_by_every_path(records)
    for other in others:
        assert other.keys() == first.keys()
        for name, array in first.items():
            assert other[name].dtype == array.dtype and other[name].shape == array.shape
            if array.dtype.kind == "f":
                np.testing.assert_array_equal(other[name], array)
            else:
                assert other[name].tolist() == array.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(scalar_row, min_size=1, max_size=4))
def test_feature_schema_refuses_the_same_rows_on_every_path(records):
    outcomes = []
    for convert in (lambda: SCHEMA.records(records, 1000)[0],
                    lambda: SCHEMA.tensors(v2(records), 1000)[0]):
        try:
            convert()
            outcomes.append(None)
        except InvalidInput as exc:
            outcomes.append(sorted({(p.row, p.field) for p in exc.problems}))
    if outcomes[1] is not None and outcomes[0] is not None:
        # v2 names the field only (row None) for tensor-level faults such as a bad datatype
        assert {f for _, f in outcomes[0]} >= {f for r, f in outcomes[1] if r is not None}
    assert (outcomes[0] is None) == (outcomes[1] is None)
