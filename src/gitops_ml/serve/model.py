"""The served model: what model.json promises, and an ONNX Runtime session for model.onnx."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gitops_ml.errors import UserError
from gitops_ml.features import Feature, FeatureSchema, non_finite_rows

META_FILE = "model.json"
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class ModelMeta:
    """What model.json promises about model.onnx."""

    name: str
    version: str | None
    task: str
    target: str
    features: tuple[Feature, ...]
    classes: tuple[str, ...] | None
    onnx_file: str
    outputs: dict[str, str]
    raw: dict[str, Any]

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    @property
    def ignored(self) -> tuple[str, ...]:
        """Columns of the training data the model does not take: the target, and the columns
        the data contract excludes (IDs, free text, `data.exclude`)."""
        return (self.target, *(str(c) for c in self.raw.get("excluded") or ()))

    def schema(self, *, reject_unknown_categories: bool) -> FeatureSchema:
        """The feature schema for this model's inputs."""
        return FeatureSchema(self.features, reject_unknown_categories=reject_unknown_categories,
                             ignored=self.ignored)

    @classmethod
    def from_dict(cls, meta: dict[str, Any], where: str = META_FILE) -> ModelMeta:
        try:
            features = tuple(Feature.from_dict(f) for f in meta["features"])
            onnx = meta["onnx"]
            task = meta["task"]
            classes = meta.get("classes")
            if task not in TASKS:
                raise ValueError(f"task must be one of {', '.join(TASKS)}")
            if [f.onnx_input for f in features] != list(onnx["inputs"]):
                raise ValueError("features and onnx.inputs disagree")
            version = meta.get("version")
            return cls(
                name=str(meta["name"]), version=None if version in (None, "") else str(version),
                task=task, target=str(meta["target"]), features=features,
                classes=tuple(str(c) for c in classes) if classes is not None else None,
                onnx_file=str(onnx["file"]), outputs=dict(onnx["outputs"]), raw=meta,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{where}: not a model description this server understands "
                            f"({type(exc).__name__}: {exc})") from exc


def read_meta(model_dir: Path) -> ModelMeta:
    """Read model.json from `model_dir` (cheap: no ONNX Runtime)."""
    path = Path(model_dir) / META_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"model: {path} not found (run `dvc repro` or set GITOPS_ML_MODEL_DIR)") \
            from None
    except json.JSONDecodeError as exc:
        raise UserError(f"model: {path} is not valid JSON ({exc})") from None
    return ModelMeta.from_dict(raw, where=str(path))


class OnnxModel:
    """An ONNX Runtime session that scores validated columns, one [n, 1] array per feature."""

    def __init__(self, meta: ModelMeta, session: Any) -> None:
        self.meta = meta
        self._session = session
        names = {o.name for o in session.get_outputs()}
        wanted = set(meta.outputs.values())
        if not wanted <= names:
            raise UserError(f"model: model.onnx lacks output(s) {sorted(wanted - names)} "
                            "promised by model.json")
        inputs = {i.name for i in session.get_inputs()}
        if inputs != {f.onnx_input for f in meta.features}:
            raise UserError("model: model.onnx inputs differ from the features in model.json")
        self._output_names = [meta.outputs[k] for k in sorted(meta.outputs)]
        self._roles = sorted(meta.outputs)
        # feeds are keyed by feature name; only a renamed input needs a new dict per call
        self._renamed = any(f.input and f.input != f.name for f in meta.features)
        # InferenceSession.run re-checks the feed's names and ownership in Python on every call
        # (about 10 us, a quarter of scoring one row); the feature schema has already built
        # exactly the inputs model.json names, checked against the graph above, so the C++
        # session is called directly (an onnxruntime without it fails every serving test).
        self._run = session._sess.run

    @classmethod
    def load(cls, model_dir: Path, meta: ModelMeta | None = None,
             threads: int | None = None) -> OnnxModel:
        """Open model.onnx next to model.json; `threads` caps ONNX Runtime's intra-op pool."""
        import onnxruntime as ort

        meta = meta or read_meta(model_dir)
        path = Path(model_dir) / meta.onnx_file
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own types for missing and corrupt files alike
            raise UserError(f"model: cannot load {path} ({type(exc).__name__})") from exc
        return cls(meta, session)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Score; keys are model.json's output roles: label + probabilities, or value."""
        if self._renamed:  # the graph's inputs may be named otherwise (`input`)
            feeds = {f.onnx_input: feeds[f.name] for f in self.meta.features}
        results = self._run(self._output_names, feeds, None)
        return dict(zip(self._roles, results, strict=True))

    def score(self, feeds: dict[str, np.ndarray], schema: FeatureSchema,
              row_offset: int = 0) -> dict[str, np.ndarray]:
        """`run`, but a row scored as NaN or infinity is an InvalidInput naming its fields.

        Admitted values can still overflow inside the model (two huge inputs with opposite
        weights give inf - inf); a client gets a 422 for that row, never a NaN.
        """
        outputs = self.run(feeds)
        bad = non_finite_rows(outputs)
        if bad:
            raise schema.unscorable(bad, feeds, row_offset)
        return outputs

    @property
    def output_info(self) -> list[dict[str, Any]]:
        """Output tensors as the v2 protocol describes them."""
        by_name = {o.name: o for o in self._session.get_outputs()}
        return [tensor_info(by_name[self.meta.outputs[role]]) for role in sorted(self.meta.outputs)]

    @property
    def input_info(self) -> list[dict[str, Any]]:
        by_name = {i.name: i for i in self._session.get_inputs()}
        # a client names a v2 input tensor by the feature's name, whatever the graph calls it
        return [{**tensor_info(by_name[f.onnx_input]), "name": f.name} for f in self.meta.features]


_V2_TYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(string)": "BYTES",
             "tensor(int64)": "INT64", "tensor(int32)": "INT32", "tensor(bool)": "BOOL"}


def tensor_info(node: Any) -> dict[str, Any]:
    """Name, v2 datatype and shape (-1 for the batch dimension) of an ONNX input or output."""
    shape = [d if isinstance(d, int) else -1 for d in node.shape]
    return {"name": node.name, "datatype": _V2_TYPES.get(node.type, node.type), "shape": shape}
