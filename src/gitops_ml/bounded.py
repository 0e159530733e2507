"""A regressor whose predictions stay within the target's range in the data contract.

A linear model extrapolates: on a price (never below 0) it predicts negative prices for cheap
rows. The contract already says which target values are possible (`target.min`/`max`, the
observed range widened, and never below 0 for a non-negative target), so predictions are clipped
to it. For any true value inside that range, clipping can only move a prediction closer to it,
so no error grows. The ONNX graph clips the same way (converter below), so the served model and
the evaluated one agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted


class BoundedRegressor(RegressorMixin, BaseEstimator):
    """`regressor`'s predictions clipped to [`low`, `high`] (None: unbounded on that side)."""

    def __init__(self, regressor: Any = None, low: float | None = None,
                 high: float | None = None) -> None:
        self.regressor = regressor
        self.low = low
        self.high = high

    def fit(self, X: Any, y: Any, **fit_params: Any) -> BoundedRegressor:
        self.regressor_ = clone(self.regressor).fit(X, y, **fit_params)
        if hasattr(self.regressor_, "n_features_in_"):
            self.n_features_in_ = self.regressor_.n_features_in_
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inner = get_tags(self.regressor)    # what X and y the wrapped model takes, it takes
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.target_tags.multi_output = inner.target_tags.multi_output
        return tags

    def predict(self, X: Any) -> Any:
        check_is_fitted(self)
        return np.clip(self.regressor_.predict(X), self.low, self.high)


def register_onnx_converter() -> None:
    """Teach skl2onnx to convert BoundedRegressor: the wrapped model's graph, then Clip."""
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.algebra.onnx_ops import OnnxClip
    from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes

    def convert(scope: Any, operator: Any, container: Any) -> None:
        model, opset = operator.raw_operator, container.target_opset
        inner = OnnxSubEstimator(model.regressor_, operator.inputs[0], op_version=opset)
        low = np.array(-np.inf if model.low is None else model.low, dtype=np.float32)
        high = np.array(np.inf if model.high is None else model.high, dtype=np.float32)
        OnnxClip(inner, low, high, op_version=opset,
                 output_names=operator.outputs[:1]).add_to(scope, container)

    update_registered_converter(BoundedRegressor, "GitopsMlBoundedRegressor",
                                calculate_linear_regressor_output_shapes, convert)
