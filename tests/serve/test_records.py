"""A /predict body of numeric records read as rows (serve/records.py) means what its dicts mean."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_ml.features import Feature, FeatureSchema, InvalidInput
from gitops_ml.serve.records import Rows, records_reader

SCHEMA = FeatureSchema(
    (Feature("x", "number", "float", min=0.0, max=10.0),
     Feature("y", "number", "float", nullable=True),
     Feature("Min.Price", "number", "float", min=-5.0, max=5.0)),
    reject_unknown_categories=True, ignored=("target",))
READ = records_reader(SCHEMA)


def outcome(payload):
    """Feeds or problems, and the columns the prediction log writes (values with their types)."""
    rows = type(payload) is Rows
    try:
        columns = (SCHEMA.row_columns(payload, 100) if rows
                   else SCHEMA.record_columns(payload, 100))
        logged = {name: [(type(v), v) for v in values] for name, values in columns.items()}
        feeds = (SCHEMA.row_feeds(payload, columns) if rows
                 else SCHEMA.record_feeds(payload, columns))
    except InvalidInput as exc:
        return [(p.row, p.field, p.error) for p in exc.problems], None
    # bytes, not values: NaN (a missing y) equals itself only so
    return {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in feeds.items()}, logged


def test_reader_gives_rows_in_feature_order_and_keeps_ints():
    payload = READ(b'[{"Min.Price": 1, "y": null, "x": 2.5}]')
    assert type(payload) is Rows
    assert payload == [(2.5, None, 1)]


@pytest.mark.parametrize("body", [
    b'[{"x": 1, "y": 2, "Min.Price": true}]',       # a bool is not a number
    b'[{"x": 1, "y": 2, "Min.Price": "1"}]',        # nor a string
    b'[{"x": 1, "Min.Price": 1}]',                  # y absent (missing, nullable)
    b'[{"x": 1, "y": 2, "Min.Price": 1, "target": 0}]',  # an ignored column
    b'[{"x": 1, "y": 2, "Min.Price": 1, "z": 0}]',  # an unknown field
    b'[{"x": 1e999, "y": 2, "Min.Price": 1}]',      # beyond float64
    b'{"x": 1}', b'[1]', b'[{"x": 1,}]',
])
def test_reader_leaves_anything_else_to_the_general_path(body):
    try:
        expected = json.loads(body)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(Exception, match="not valid JSON"):
            READ(body)
    else:
        payload = READ(body)
        assert type(payload) is not Rows
        assert payload == expected


number = (st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
          | st.floats(-20, 20))
value = st.none() | st.booleans() | number | st.text(max_size=2)
record = st.fixed_dictionaries(
    {"x": number | value, "Min.Price": number},
    optional={"y": value, "target": value, "z": value})


@settings(max_examples=300, deadline=None)
@given(st.lists(record, max_size=4))
def test_rows_and_dicts_give_the_same_feeds_problems_and_log(records):
    body = json.dumps(records).encode()
    assert outcome(READ(body)) == outcome(json.loads(body))


def test_rows_refuse_a_value_beyond_the_limit_naming_it():
    payload = READ(b'[{"x": 1, "y": 2, "Min.Price": 1}, {"x": 1e12, "y": 2, "Min.Price": 1}]')
    assert type(payload) is Rows
    problems, _ = outcome(payload)
    assert problems == [(1, "x", "number out of range (this model takes magnitudes up to 1e+07)")]
