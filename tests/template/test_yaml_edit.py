"""Line-level YAML edits: values change, comments and untouched lines stay byte for byte."""

from __future__ import annotations

import pytest

from gitops_ml.errors import UserError
from gitops_ml.init.yaml_edit import set_value

TEXT = """# header
data:
  source: a.csv   # where
  target: y
gates:
  max_regression:     # against main
    roc_auc: {abs: 0.01}
    # a note
    accuracy: {abs: 0.02}
  onnx_parity: true
"""


def test_set_value_keeps_the_comment_in_its_column():
    out = set_value(TEXT, ("data", "source"), "b.csv", where="p")
    assert "  source: b.csv   # where\n" in out
    assert out.replace("b.csv", "a.csv") == TEXT


def test_set_value_replaces_a_nested_block_as_block():
    out = set_value(TEXT, ("gates", "max_regression"), {"rmse": {"rel": 0.05}}, where="p",
                    block=True)
    assert "  max_regression:     # against main\n    rmse: {rel: 0.05}\n  onnx_parity: true\n" \
        in out


def test_set_value_on_a_missing_key_names_it():
    with pytest.raises(UserError, match=r"p: key data\.task not found"):
        set_value(TEXT, ("data", "task"), "auto", where="p")
