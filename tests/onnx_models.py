"""Build a real exported model (ONNX + model.json) from a small DataFrame, as the pipeline does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops_ml import config, contract
from gitops_ml.io import write_bytes, write_json
from gitops_ml.stages.export import metadata_for, onnx_input_names, to_onnx
from gitops_ml.stages.train import train

ESTIMATOR = "sklearn.linear_model.LogisticRegression"


def export_model(df: Any, target: str, out: Path, *, drop: tuple[str, ...] = (),
                 estimator: str = ESTIMATOR, params: dict[str, Any] | None = None) -> Path:
    """Train on `df` without the `drop` columns, export to `out` (model.onnx + model.json)."""
    frame = df.drop(columns=list(drop))
    spec = contract.infer(frame, target, margin=0.5)
    bundle = train(frame, spec, config.ModelConfig(estimator, params or {}), seed=0)
    onnx = to_onnx(bundle)
    meta = metadata_for(bundle, name="model", metrics={}, params={}, data_sha256="0" * 64,
                        train_rows=len(frame), parity_report={},
                        inputs=onnx_input_names(onnx))
    write_bytes(onnx, out / "model.onnx")
    write_json(meta, out / "model.json")
    return out
