"""The `gitops-ml` command: pipeline stages (called by dvc.yaml) and helper commands."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path

from gitops_ml.errors import UserError

# gc.set_threshold for a batch command: collect the youngest generation after 10,000 net
# allocations instead of 700 (https://docs.python.org/3/library/gc.html#gc.set_threshold)
BATCH_GC_THRESHOLDS = (10_000, 10, 10)


def _stage(name: str) -> Callable[[argparse.Namespace], None]:
    """Import a stage lazily, so `ingest` does not pay for skl2onnx's import."""
    return lambda args: import_module(f"gitops_ml.stages.{name}").main(args)


def _contract_infer(args: argparse.Namespace) -> None:
    from gitops_ml import config
    from gitops_ml import contract as contract_mod
    from gitops_ml.io import read_table
    from gitops_ml.sources import missing_tokens

    params = config.read_params(args.params)
    data_cfg = config.DataConfig.from_params(params)
    task = config.ModelConfig.from_params(params).task
    df = read_table(args.data, key="--data")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite the committed contract")
    # what reading data.source turned into missing values, so a level such as `NA` is reported
    tokens = missing_tokens(data_cfg, Path(args.params).resolve().parent)
    contract = contract_mod.infer(df, data_cfg.target, margin=args.margin, task=task,
                                  exclude=data_cfg.exclude, missing_tokens=tokens)
    contract_mod.dump(contract, out)
    print(f"contract: {len(contract.features)} features, target {contract.target.name!r} "
          f"-> {out} (review it, then commit)")
    for name, reason in contract.excluded:
        print(f"contract: excluded {name!r}: {reason}")
    for level in contract.missing_levels:
        print(f"contract: check {level.note}")


def _stale_pipeline_warning(root: Path = Path()) -> str | None:
    """A warning when `dvc status` says the models are not what the code, params and data make.

    After a failed `dvc repro` the previous model stays in models/; serving it silently would
    hide the failure. Only in a DVC project checkout (dvc.lock present, DVC installed); the
    serving image has neither and serves what it was built with.
    """
    import subprocess

    if not (root / "dvc.lock").is_file():
        return None
    try:
        out = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root,
                             capture_output=True, text=True, timeout=120, check=False)
        status = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 \
            and out.stdout.strip() else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    # "always changed" alone is the data fingerprint, rerun on every `dvc repro`
    stale = sorted(name for name, entries in status.items() if entries != ["always changed"])
    if not stale:
        return None
    return (f"warning: DVC reports stage(s) {', '.join(stale)} out of date, so models/ may be "
            "from an earlier run (a failed or pending `dvc repro`); run `uv run dvc repro`")


def _serve(args: argparse.Namespace) -> None:
    import threading

    from gitops_ml.serve.server import run
    from gitops_ml.serve.settings import Settings

    def warn() -> None:
        if warning := _stale_pipeline_warning():
            print(f"gitops-ml serve: {warning}", file=sys.stderr)

    # `dvc status` takes seconds: the server starts meanwhile, the warning comes when it does
    threading.Thread(target=warn, name="dvc-status", daemon=True).start()
    run(Settings.from_env())


def _predict(args: argparse.Namespace) -> None:
    if args.ray_address:
        from gitops_ml.ray_predict import main as predict_main
    else:
        from gitops_ml.predict import main as predict_main

    if warning := _stale_pipeline_warning():
        print(f"gitops-ml predict: {warning}", file=sys.stderr)

    predict_main(args)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `only` names the one command whose heavier options to build.

    The `init` and `registry` options come from their own modules; a pipeline stage does not
    import them, so dvc.yaml lists exactly the code each stage runs (tests/test_stage_deps.py).
    """
    parser = argparse.ArgumentParser(prog="gitops-ml", description=__doc__)
    parser.add_argument("--timings", metavar="FILE",
                        help="write seconds spent in model fit/predict as JSON (for benchmarks)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, func: Callable[[argparse.Namespace], None],
                *paths: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
        for flag in paths:
            p.add_argument(f"--{flag}", required=True, metavar="PATH")
        p.set_defaults(func=func)
        return p

    command("fingerprint", "record the size and SHA-256 of the file data.source names",
            _stage("fingerprint"), "out")
    ingest = command("ingest", "load data.source and write it as Parquet", _stage("ingest"),
                     "out")
    ingest.add_argument("--batches", metavar="DIR",
                        help="append the labelled CSV/Parquet batches in this folder")
    ingest.add_argument("--fingerprint", metavar="PATH",
                        help="the fingerprint stage's record of data.source (default: hash it)")
    ingest.add_argument("--summary", metavar="PATH",
                        help="also write rows, columns and hashes of the data as JSON")
    command("validate", "check the data against the contract", _stage("validate"),
            "data", "contract", "report")
    command("split", "seeded train/test split", _stage("split"), "data", "train", "test")
    command("train", "fit the model pipeline", _stage("train"), "train", "contract", "out")
    command("evaluate", "metrics, plots, slices and importance", _stage("evaluate"),
            "model", "test", "metrics", "plots", "slices", "importance")
    export = command("export", "convert to ONNX, check parity, write model.json",
                     _stage("export"), "model", "train", "test", "metrics", "onnx", "meta",
                     "parity")
    export.add_argument("--name", default="model", help="model name recorded in model.json")
    command("model-tests", "behavioural tests, robustness and fairness on the ONNX model",
            _stage("model_tests"), "model-dir", "tests", "test", "report", "fairness")

    serve = sub.add_parser("serve", help="serve the model over HTTP (settings: GITOPS_ML_* env)",
                           description="Serve models/model.onnx over HTTP. Settings come from "
                           "GITOPS_ML_* environment variables (see README, Serving).")
    serve.set_defaults(func=_serve)
    predict = sub.add_parser("predict", help="score a CSV or Parquet file with the ONNX model",
                             description="Score INPUT with the same model and validation as the "
                             "server, in chunks; write label + probabilities (or value).")
    predict.add_argument("input", metavar="INPUT", help="CSV or Parquet file")
    predict.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                         help=".csv or .parquet; written atomically")
    predict.add_argument("--model-dir", default="models", metavar="DIR",
                         help="directory with model.onnx and model.json (default: %(default)s)")
    predict.add_argument("--keep", action="append", default=[], metavar="COLUMN",
                         help="copy an input column (e.g. an id) to the output; repeatable")
    predict.add_argument("--chunk-rows", type=int, default=50_000, metavar="N",
                         help="rows per chunk (default: %(default)s)")
    predict.add_argument("--allow-unknown-categories", action="store_true",
                         help="score unknown categories as none of the known ones")
    predict.add_argument("--ray-address", metavar="ADDRESS",
                         help="score on Ray (needs `uv sync --group ray`): `local` starts one "
                         "here, `auto` or ray://HOST:10001 joins a cluster; OUTPUT is then a "
                         "directory of Parquet files")
    predict.add_argument("--ray-workers", type=int, default=2, metavar="N",
                         help="with --ray-address: scoring actors, one CPU each "
                         "(default: %(default)s)")
    predict.set_defaults(func=_predict)

    drift = sub.add_parser(
        "drift", help="compare a production batch or prediction log with the training data",
        description="Exit 0: no drift; 3: drift detected; 2: bad input.")
    drift.add_argument("--params", default="params.yaml", help="thresholds under monitor:")
    drift.add_argument("--reference", required=True, metavar="PATH",
                       help="training data (CSV or Parquet)")
    drift.add_argument("--current", required=True, metavar="PATH",
                       help="a batch (CSV/Parquet), a .jsonl prediction log or a folder of them")
    drift.add_argument("--model", default="models", metavar="DIR",
                       help="folder with model.onnx + model.json (default: %(default)s)")
    drift.add_argument("--out-json", default="reports/drift.json", metavar="PATH")
    drift.add_argument("--out-md", default="reports/drift.md", metavar="PATH")
    drift.add_argument("--template", default="reports/drift.md.j2", metavar="PATH")
    drift.set_defaults(func=lambda a: import_module("gitops_ml.monitor.check").main(a))

    quality = sub.add_parser(
        "quality", help="metrics of logged predictions once labels arrive, and the k-of-n alarm",
        description="Join labels to the prediction log by request id; metrics per model and "
                    "time window against gates.floors. Exit 0: holds; 3: alarm; 2: bad input.")
    quality.add_argument("--params", default="params.yaml", help="quality: and gates.floors")
    quality.add_argument("--log", required=True, metavar="PATH",
                         help="a .jsonl prediction log or a folder of them")
    quality.add_argument("--labels", required=True, metavar="PATH",
                         help="CSV/Parquet: request_id, optional row, and the target column")
    quality.add_argument("--out-json", default="reports/quality.json", metavar="PATH")
    quality.add_argument("--out-md", default="reports/quality.md", metavar="PATH")
    quality.add_argument("--out-batch", metavar="PATH",
                         help="also write the labelled rows as a Parquet batch to retrain on")
    quality.set_defaults(func=lambda a: import_module("gitops_ml.monitor.quality").main(a))

    experiment = sub.add_parser(
        "experiment", help="champion vs challenger from the prediction log: a verdict",
        description="Agreement and score distributions; with labels, each model's metric, a "
                    "test of the difference and a verdict (promote, keep, inconclusive).")
    experiment.add_argument("--params", default="params.yaml", help="experiment: section")
    experiment.add_argument("--log", required=True, metavar="PATH",
                            help="a .jsonl prediction log or a folder of them")
    experiment.add_argument("--labels", metavar="PATH",
                            help="CSV/Parquet: request_id, optional row, and the target column")
    experiment.add_argument("--out-json", default="reports/experiment.json", metavar="PATH")
    experiment.add_argument("--out-md", default="reports/experiment.md", metavar="PATH")
    experiment.set_defaults(
        func=lambda a: import_module("gitops_ml.monitor.experiment").main(a))

    contract = sub.add_parser("contract", help="data contract helpers")
    contract_sub = contract.add_subparsers(dest="contract_command", required=True)
    infer = contract_sub.add_parser(
        "infer", help="draft a contract from the current data (a team bringing new data)")
    infer.add_argument("--params", default="params.yaml")
    infer.add_argument("--data", required=True, metavar="PATH", help="CSV or Parquet file")
    infer.add_argument("--out", required=True, metavar="PATH")
    infer.add_argument("--margin", type=float, default=0.1,
                       help="widen observed numeric ranges by this share of their span")
    infer.add_argument("--force", action="store_true", help="overwrite an existing contract")
    infer.set_defaults(func=_contract_infer)

    card = command("model-card", "render the model card (reports/model_card.md)",
                   lambda args: import_module("gitops_ml.model_card").main(args),
                   "meta", "metrics", "slices", "importance", "validation", "parity",
                   "intended-use", "template", "out")
    card.add_argument("--version", help="registered version, when rendering for a release")
    card.add_argument("--image", help="image <repository>@sha256:..., when known")
    card.add_argument("--audit-repo", metavar="REPO",
                      help="add the Governance section (approvals, gates, data hash, image of "
                           "every registered version) read from this git repository's tags")
    card.add_argument("--model-tests", metavar="PATH", help="reports/model_tests.json")
    card.add_argument("--fairness", metavar="PATH", help="reports/fairness.json")
    init = sub.add_parser("init", help="make the template your project (names, data, contract)",
                          description="Ask for (or take as flags) the project's name, model, "
                          "description, data source, target and task; write project.yaml, "
                          "params.yaml, contract.yaml, dvc.yaml's model name, the README header "
                          "and docs/intended_use.md. Refuses a dirty git tree unless --force.")
    if only in (None, "init"):
        import_module("gitops_ml.init.command").configure(init)
    registry = sub.add_parser("registry", help="model versions and stages (GTO tags in git)",
                              description="Model versions and stages, read from GTO's git tags.")
    if only in (None, "registry"):
        import_module("gitops_ml.registry.commands").configure(registry)
    return parser


def _requested(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (the first word that is not an option or its value)."""
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--timings":
            words = words[1:]
        elif not word.startswith("-"):
            return word
    return None


def run() -> None:
    """The `gitops-ml` command and `python -m gitops_ml`: `main` on sys.argv, exit with its code."""
    if _requested(sys.argv[1:]) != "serve":
        # A stage is a short process that imports large libraries and allocates in bulk: with
        # the default thresholds (700, 10, 10) train, evaluate and export each ran about 400
        # collections, three of them over every object, 0.12-0.17 s; with these, about 30 and
        # 0.06-0.08 s (docs/benchmarks.md). Cyclic garbage is still collected, only in larger
        # batches. The server keeps the defaults: there, a collection is a pause in a request.
        gc.set_threshold(*BATCH_GC_THRESHOLDS)
    code = main()
    # A stage imports scikit-learn, SciPy, pandas or pandera, and at exit the interpreter then
    # garbage-collects their hundred thousand-odd objects: 0.2-0.35 s of every stage process
    # (docs/benchmarks.md). Frozen, they are left out of that collection
    # (https://docs.python.org/3/library/gc.html#gc.freeze); they are still released, and exit
    # handlers still run. Not in `main`: a long-lived caller (the tests) keeps collecting.
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_requested(argv)).parse_args(argv)
    try:
        code = args.func(args)
    except UserError as exc:
        print(f"gitops-ml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.timings:
            from gitops_ml.profiling import totals

            Path(args.timings).write_text(json.dumps(totals()))
    return code or 0
