"""One row, one prediction: /predict, v2 infer, batch `predict` and drift agree, or all refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_ml.features import FLOAT32_MAX, FeatureSchema, InvalidInput
from gitops_ml.monitor.check import predictions
from gitops_ml.serve.model import OnnxModel

finite = st.floats(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, allow_nan=False)
plausible = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
row = st.fixed_dictionaries({
    "size": st.none() | plausible | finite,
    "weight": plausible | finite | st.integers(-10**6, 10**6),
    "colour": st.sampled_from(["red", "green", "blue", None]),
    "shape": st.sampled_from(["round", "square"]),
})
FLAKY_FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def v2_body(records):
    types = {"size": "FP64", "weight": "FP64", "colour": "BYTES", "shape": "BYTES"}
    return {"inputs": [{"name": k, "datatype": t, "shape": [len(records), 1],
                        "data": [r[k] for r in records]} for k, t in types.items()]}


@pytest.fixture(scope="module")
def model(mixed_model):
    return OnnxModel.load(mixed_model.dir)


@settings(max_examples=60, deadline=None, suppress_health_check=FLAKY_FIXTURES)
@given(st.lists(row, min_size=1, max_size=4))
def test_every_path_gives_the_same_prediction_or_the_same_refusal(mixed_client, model, records):
    served = mixed_client.post("/predict", json=records)
    infer = mixed_client.post("/v2/models/model/infer", json=v2_body(records))
    assert served.status_code in (200, 422) and infer.status_code == served.status_code
    schema = FeatureSchema(model.meta.features, reject_unknown_categories=True)
    frame = pd.DataFrame({k: pd.Series([r[k] for r in records], dtype=object)
                          for k in records[0]})
    if served.status_code == 422:
        # an overflow inside the model: every path refuses the same rows
        with pytest.raises(InvalidInput) as info:
            model.score(schema.frame(frame), schema)
        assert {e["row"] for e in served.json()["errors"]} == {p.row for p in info.value.problems}
        return
    labels = [p["label"] for p in served.json()["predictions"]]
    outputs = {o["name"]: o["data"] for o in infer.json()["outputs"]}
    assert outputs["label"] == labels
    batch = model.score(schema.frame(frame), schema)  # what `gitops-ml predict` runs
    assert [str(v) for v in batch["label"].ravel()] == labels
    np.testing.assert_array_equal(
        np.asarray(outputs["probabilities"], dtype=np.float32).reshape(-1, 3),
        batch["probabilities"])
    assert predictions(model, frame, "--current").tolist() == labels  # the drift check's
