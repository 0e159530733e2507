"""`gitops-ml drift`: compare a production batch or prediction log with the training data."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import atomic_path, read_table, write_json
from gitops_ml.monitor.drift import detect
from gitops_ml.monitor.predlog import log_files, read_records, to_frame

DRIFT_EXIT = 3  # distinct from 2 (bad input), so a workflow can tell drift from breakage


def predictions(model: Any, df: Any, key: str) -> np.ndarray:
    """The served model's prediction per row (label, or value for a regressor).

    Rows become feeds through the serving feature schema, so a value the server would refuse is
    an error naming row and field here too; unseen categories are scored, as drift should see
    them rather than stop at them.
    """
    from gitops_ml.features import FeatureSchema, InvalidInput

    schema = FeatureSchema(model.meta.features, reject_unknown_categories=False)
    try:
        out = model.score(schema.frame(df), schema)
    except InvalidInput as exc:
        shown = "; ".join(f"row {p.row}, {p.field}: {p.error}" for p in exc.problems[:5])
        raise UserError(f"{key}: {exc.count} value(s) the model cannot take: {shown}") from None
    return (out["label"].ravel().astype(str) if model.meta.is_classifier
            else out["value"].ravel().astype(float))


def load_current(path: Path) -> tuple[Any, Any]:
    """A batch file (no predictions) or prediction logs (inputs and predictions)."""
    if path.is_dir() or path.suffix.lower() == ".jsonl":
        if not path.exists():
            raise UserError(f"--current: not found: {path}")
        inputs, logged = to_frame(read_records(log_files(path)))
        return inputs, logged
    return read_table(path, key="--current"), None


def render_markdown(result: dict[str, Any], template: Path) -> str:
    """The drift report as markdown, from the jinja2 template."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent),
                             autoescape=False, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template(template.name).render(r=result)


def main(args: argparse.Namespace) -> int:
    from gitops_ml.serve.model import OnnxModel

    cfg = config.MonitorConfig.from_params(config.read_params(args.params))
    model = OnnxModel.load(Path(args.model))
    reference = read_table(args.reference, key="--reference")
    current, logged = load_current(Path(args.current))
    features = [(f.name, f.is_number) for f in model.meta.features]
    missing = [n for n, _ in features if n not in reference.columns]
    if missing:
        raise UserError(f"--reference: feature column(s) missing: {', '.join(missing)}")
    ref_pred = predictions(model, reference, "--reference")
    if logged is not None:
        # rows the server refused (logged with null predictions) count for the inputs' drift,
        # not for the predictions'
        scored = logged[logged.notna()]
        cur_pred = (scored.astype(str) if model.meta.is_classifier
                    else scored.astype(float)).to_numpy() if len(scored) else None
    else:
        missing = [n for n, _ in features if n not in current.columns]
        if missing:
            raise UserError(f"--current: feature column(s) missing: {', '.join(missing)}")
        cur_pred = predictions(model, current, "--current")
    result = detect(reference, current, features, cfg, ref_pred, cur_pred,
                    pred_numeric=not model.meta.is_classifier)
    result.update({"model": model.meta.name, "version": model.meta.version,
                   "reference": str(args.reference), "current": str(args.current)})
    write_json(result, args.out_json)
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(render_markdown(result, Path(args.template)))
    if result["drift"]:
        print(f"drift: detected in {', '.join(result['drifted'])} (report: {args.out_md})")
        return DRIFT_EXIT
    print(f"drift: none in {len(features)} features and the predictions "
          f"({result['current_rows']} rows)")
    return 0
