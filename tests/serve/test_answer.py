"""The /predict predictions written as JSON text: byte for byte what orjson writes for dicts."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from gitops_ml.serve import answer

ODD_CLASSES = ("benign", 'say "no"', "100%", "back\\slash", "naïve", "%b")


def _as_dicts(classes, labels, probabilities):
    return orjson.dumps([{"label": label, "probabilities": dict(zip(classes, p, strict=True))}
                         for label, p in zip(labels, probabilities.tolist(), strict=True)])


@pytest.mark.parametrize("classes", [("benign", "malignant"), ODD_CLASSES, ("only",)])
@pytest.mark.parametrize("rows", [1, 3, 100])
def test_classified_writes_what_orjson_writes_for_the_dicts(classes, rows):
    rng = np.random.default_rng(rows)
    probabilities = rng.random((rows, len(classes))).astype(np.float32)
    probabilities[0, 0] = np.float32(1e-45)  # the smallest float32 and the edges
    probabilities[-1, -1] = np.float32(3.4e38)
    labels = [classes[i % len(classes)] for i in range(rows)]
    assert (orjson.dumps(answer.classified(classes, labels, probabilities))
            == _as_dicts(classes, labels, probabilities))


def test_classified_refuses_probabilities_that_do_not_fit_the_classes():
    with pytest.raises(ValueError, match="3 classes"):
        answer.classified(("a", "b", "c"), ["a"], np.zeros((1, 2), np.float32))


@pytest.mark.parametrize("values", [[0.5], [1e-45, -2.0, 3.4e38, 0.0, 1234.5678]])
def test_regressed_writes_what_orjson_writes_for_the_dicts(values):
    array = np.array(values, dtype=np.float32).reshape(-1, 1)
    assert orjson.dumps(answer.regressed(array)) == orjson.dumps(
        [{"value": v} for v in array.ravel().tolist()])
