"""Stage `export`: convert the fitted pipeline to ONNX, prove parity, write model.json."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from gitops_ml import config
from gitops_ml.contract import Contract
from gitops_ml.errors import UserError
from gitops_ml.features import Feature, FeatureSchema, InvalidInput
from gitops_ml.io import read_json, read_table, write_bytes, write_json
from gitops_ml.modeling import model_frame
from gitops_ml.profiling import section

# ONNX output names, shared with the serving app through model.json.
LABEL, PROBABILITIES, VALUE = "label", "probabilities", "variable"
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "pandas")


def to_onnx(bundle: dict[str, Any]) -> bytes:
    """Convert the pipeline with one ONNX input per feature column, [batch, 1] each."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from gitops_ml.bounded import register_onnx_converter

    register_onnx_converter()

    contract: Contract = bundle["contract"]
    pipeline = bundle["pipeline"]
    inputs = [(f.name, FloatTensorType([None, 1]) if f.tensor == "float"
               else StringTensorType([None, 1])) for f in schema_features(contract)]
    if bundle["task"] != "regression" and not hasattr(pipeline, "predict_proba"):
        # LinearSVC, SVC(probability=False), ...: the server and model.json promise probabilities
        raise UserError(
            f"model.estimator: {bundle['estimator']} gives decision scores, not class "
            "probabilities, and the served model answers probabilities; use a probabilistic "
            "classifier (e.g. SVC with probability: true, or LogisticRegression)")
    estimator = pipeline.named_steps["estimator"]
    options = {id(estimator): {"zipmap": False}} if bundle["task"] != "regression" else None
    try:
        # a fixed graph name: skl2onnx's default is random, which made every export differ
        model = convert_sklearn(pipeline, name="gitops_ml", initial_types=inputs,
                                options=options)
    except Exception as exc:  # skl2onnx raises several unrelated types for "cannot convert"
        raise UserError(f"model.estimator: skl2onnx cannot convert {bundle['estimator']} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    # Opset imports come out in set order; sorted, the same model serialises to the same bytes.
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    return model.SerializeToString()


def feature_specs(contract: Contract) -> list[dict[str, Any]]:
    """model.json's `features`: the feature schema the server, `predict` and drift enforce."""
    specs = []
    for c in contract.features:
        kind = ("boolean" if c.dtype in ("boolean", "bool")
                else "number" if c.is_numeric else "category")
        spec: dict[str, Any] = {"name": c.name, "type": kind, "dtype": c.dtype,
                                "nullable": c.nullable}
        if kind == "number":
            spec.update({"min": c.min, "max": c.max})
        elif kind == "category":
            spec["categories"] = [str(v) for v in c.categories or []]
        else:  # the pipeline saw a boolean as 0/1 if numeric, else as the strings True/False
            spec["tensor"] = "float" if c.is_numeric else "string"
        specs.append(spec)
    return specs


def schema_features(contract: Contract) -> tuple[Feature, ...]:
    return tuple(Feature.from_dict(spec) for spec in feature_specs(contract))


def onnx_input_names(onnx_bytes: bytes) -> list[str]:
    """The graph's input names, in feature order (skl2onnx keeps the order of its initial types
    but renames a column it cannot use as a name: `Min.Price` -> `Min_Price`)."""
    import onnx

    graph = onnx.load_from_string(onnx_bytes).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]


def onnx_feeds(df: Any, contract: Contract,
               inputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """ONNX Runtime inputs for a table, through the feature schema the server uses; keyed by
    `inputs` (the graph's input names, feature order) when given, else by feature name."""
    schema = FeatureSchema(schema_features(contract), reject_unknown_categories=False)
    try:
        feeds = schema.frame(df)
        if inputs is None:
            return feeds
        return {i: feeds[name] for i, name in zip(inputs, schema.names, strict=True)}
    except InvalidInput as exc:
        shown = "; ".join(f"row {p.row}, {p.field}: {p.error}" for p in exc.problems[:5])
        raise UserError(f"export: {exc.count} test value(s) the served model would refuse: "
                        f"{shown}") from None


def parity(bundle: dict[str, Any], onnx_bytes: bytes, df: Any,
           cfg: config.ExportConfig) -> dict[str, Any]:
    """Compare ONNX Runtime with scikit-learn on `df`: label agreement and largest difference."""
    import onnxruntime as ort

    contract: Contract = bundle["contract"]
    pipeline = bundle["pipeline"]
    X = model_frame(df, contract)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feeds = onnx_feeds(df, contract, onnx_input_names(onnx_bytes))
    with section("model.predict"):
        outputs = dict(zip([o.name for o in session.get_outputs()],
                           session.run(None, feeds), strict=True))
    if bundle["task"] == "regression":
        with section("model.predict"):
            expected = pipeline.predict(X)
        got = outputs[VALUE].ravel()
        # relative to the target's scale, so a target in the thousands is judged fairly
        scale = max(1.0, float(np.abs(expected).max()))
        max_diff = float(np.abs(got - expected).max()) / scale
        agreement = 1.0
    else:
        with section("model.predict"):
            expected = pipeline.predict_proba(X)
        max_diff = float(np.abs(outputs[PROBABILITIES] - expected).max())
        same = outputs[LABEL] == pipeline.classes_[expected.argmax(axis=1)]
        # A row whose two likeliest classes are tied within the tolerance may flip either way
        # (a random forest's 10 votes against 10); that is not a disagreement of the models.
        top2 = np.sort(expected, axis=1)[:, -2:]
        tied = (top2[:, 1] - top2[:, 0]) <= 2 * cfg.max_abs_diff
        agreement = float((same | tied).mean())
    passed = max_diff <= cfg.max_abs_diff and agreement >= cfg.min_label_agreement
    return {
        "passed": passed,
        "rows": int(len(df)),
        "label_agreement": round(agreement, 6),
        "max_abs_diff": float(f"{max_diff:.3g}"),
        "tolerance": {"max_abs_diff": cfg.max_abs_diff,
                      "min_label_agreement": cfg.min_label_agreement},
    }


def metadata_for(bundle: dict[str, Any], *, name: str, metrics: dict[str, Any],
                 params: dict[str, Any], data_sha256: str, train_rows: int,
                 parity_report: dict[str, Any],
                 inputs: Sequence[str] | None = None) -> dict[str, Any]:
    """model.json: everything a server or a reviewer needs to know about model.onnx.

    Nothing in it depends on the checkout or the clock, so `dvc repro` on a fresh clone
    reproduces it byte for byte and leaves dvc.lock unchanged. The commit a model was built from
    is recorded where it is known for sure: the registration tag points at it and its record
    holds the build's `sha` (pipelines/register.py).

    `inputs` are the graph's input names in feature order; a feature whose input is named
    otherwise (a column `Min.Price` is the input `Min_Price`) gets `input`: clients keep
    sending the column's name, the server feeds the graph its own.
    """
    contract: Contract = bundle["contract"]
    classification = bundle["task"] != "regression"
    features = feature_specs(contract)
    inputs = list(inputs) if inputs is not None else [f["name"] for f in features]
    if len(inputs) != len(features):
        raise UserError(f"export: model.onnx has {len(inputs)} inputs for {len(features)} "
                        "features")
    for spec, onnx_name in zip(features, inputs, strict=True):
        if onnx_name != spec["name"]:
            spec["input"] = onnx_name
    return {
        "name": name,
        "task": bundle["task"],
        "target": bundle["target"],
        "estimator": bundle["estimator"],
        "features": features,
        # columns the data may carry that the model never sees: clients may send them (ignored)
        "excluded": list(contract.excluded_names),
        "classes": [str(c) for c in bundle["classes"]] if classification else None,
        "onnx": {
            "file": "model.onnx",
            "inputs": inputs,
            "outputs": {"label": LABEL, "probabilities": PROBABILITIES} if classification
            else {"value": VALUE},
            "missing_category": "",
        },
        "metrics": metrics,
        "params": params,
        "training_data": {"sha256": data_sha256, "rows": train_rows},
        "parity": parity_report,
        "libraries": {lib: _version(lib) for lib in LIBRARIES},
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _parquet_rows(path: str | Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def main(args: argparse.Namespace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import joblib

    params = config.read_params(args.params)
    cfg = config.ExportConfig.from_params(params)
    with ThreadPoolExecutor(1) as pool:
        # hashlib hashes without the GIL: the training data (0.5 s at 800k rows) is hashed on
        # the second core while this one loads the model and checks parity
        train_sha256 = pool.submit(_sha256, args.train)
        bundle = joblib.load(args.model)
        test = read_table(args.test, key="--test")
        onnx_bytes = to_onnx(bundle)
        report = parity(bundle, onnx_bytes, test, cfg)
        write_json(report, args.parity)
        if not report["passed"]:
            raise UserError(
                f"export: ONNX parity failed on {report['rows']} test rows: label agreement "
                f"{report['label_agreement']} (need >= {cfg.min_label_agreement}), largest "
                f"difference {report['max_abs_diff']} (allowed {cfg.max_abs_diff}); see export.* "
                "in params.yaml"
            )
        meta = metadata_for(
            bundle, name=args.name, metrics=read_json(args.metrics),
            params={key: params.get(key) for key in ("seed", "data", "model")},
            data_sha256=train_sha256.result(), train_rows=_parquet_rows(args.train),
            parity_report=report, inputs=onnx_input_names(onnx_bytes),
        )
    write_bytes(onnx_bytes, args.onnx)
    write_json(meta, args.meta)
    print(f"export: {args.onnx} ({len(onnx_bytes) // 1024} KiB), parity "
          f"{report['label_agreement']:.0%} labels, max diff {report['max_abs_diff']}")
