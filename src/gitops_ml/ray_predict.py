"""`gitops-ml predict --ray-address`: the same chunk scoring as predict.py, run by Ray Data.

For inputs one machine cannot score in time. Ray Data reads the file(s) in blocks, each actor
holds one ONNX Runtime session and scores `--chunk-rows` rows at a time with `predict.score` (the
CLI's own validate-then-score step, so results match `gitops-ml predict` row for row), and the
scored blocks are written as a directory of Parquet files. Needs the `ray` dependency group
(`uv sync --group ray`); on a remote cluster every node needs the same environment (Ray's
runtime_env ships this package's code, not its compiled dependencies).
https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.profiling import section
from gitops_ml.serve.model import ModelMeta, OnnxModel, read_meta

SHOW_PROBLEMS = 10
LOCAL = "local"


class BatchRejected(Exception):
    """A block broke the feature schema; carries the one-line message for the user."""


def checker(meta: ModelMeta, allow_unknown_categories: bool) -> Any:
    """The feature schema `predict.score` validates with (gitops_ml.features, as the CLI)."""
    from gitops_ml.features import FeatureSchema

    return FeatureSchema(meta.features, reject_unknown_categories=not allow_unknown_categories)


class Scorer:
    """A Ray Data actor: loads the model once, then scores one pyarrow batch per call."""

    def __init__(self, meta: dict[str, Any], onnx: bytes, keep: list[str],
                 allow_unknown_categories: bool, source: str) -> None:
        import onnxruntime as ort

        self.meta = ModelMeta.from_dict(meta)
        options = ort.SessionOptions()
        # One thread per actor: Ray gives each actor one CPU, parallelism comes from actors.
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
        self.model = OnnxModel(self.meta, session)
        self.check = checker(self.meta, allow_unknown_categories)
        self.keep = keep
        self.source = source

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from gitops_ml.features import InvalidInput
        from gitops_ml.predict import score

        try:
            scored = score(self.model, self.check, batch, 0)
        except InvalidInput as exc:
            raise BatchRejected(self._describe(exc, batch)) from None
        return pa.table({**{c: batch.column(c) for c in self.keep}, **scored})

    def _describe(self, exc: Any, batch: Any) -> str:
        # Blocks do not know their position in the input; name the row by its --keep columns.
        def where(row: int) -> str:
            ids = ", ".join(f"{k}={batch.column(k)[row].as_py()!r}" for k in self.keep)
            return f"block row {row}" + (f" ({ids})" if ids else "")

        shown = "; ".join(f"{where(p.row)}, {p.field}: {p.error}"
                          for p in exc.problems[:SHOW_PROBLEMS])
        return f"{self.source}: {len(exc.problems)} invalid value(s) in a block: {shown}"


def _rejection(exc: BaseException) -> BatchRejected | None:
    """Ray re-raises a task's exception wrapped (RayTaskError, UserCodeException): unwrap."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, BatchRejected):
            return e
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


def _read(source: str, meta: ModelMeta, keep: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import ray.data

    from gitops_ml.predict import CSV_BLOCK_BYTES, _check_types, _require

    wanted = list(dict.fromkeys([*(f.name for f in meta.features), *keep]))
    name = source.rstrip("/").lower()
    if name.endswith(".csv") or name.endswith(".txt"):
        # the same column types as the CLI's CSV reader (predict.py)
        types = {f.name: {"number": pa.float64(), "category": pa.string(),
                          "boolean": pa.bool_()}[f.kind] for f in meta.features}
        ds = ray.data.read_csv(
            source, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pcsv.ConvertOptions(include_columns=wanted, column_types=types,
                                                strings_can_be_null=True))
    else:   # a .parquet file, or a directory / prefix of them (what a cluster job usually reads)
        ds = ray.data.read_parquet(source).select_columns(wanted)   # projection pushed down
    schema = ds.schema()
    if schema is None:
        raise UserError(f"{source}: no rows to score")
    arrow = pa.schema([pa.field(n, t) for n, t in zip(schema.names, schema.types, strict=True)])
    # the reader projected `wanted` already, so unlike the CLI's reader an extra column in the
    # file is never seen here (only missing ones are refused)
    _require(arrow.names, wanted, Path(source), checker(meta, True), keep)
    _check_types(arrow, meta.features, Path(source))
    return ds


def _rows_written(fs: Any, path: str) -> int:
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    files = [f.path for f in fs.get_file_info(pafs.FileSelector(path, recursive=True))
             if f.path.endswith(".parquet")]
    return sum(pq.ParquetFile(fs.open_input_file(f)).metadata.num_rows for f in files)


def predict_on_ray(model_dir: Path, source: str, dest: str, *, keep: list[str], chunk_rows: int,
                   workers: int, allow_unknown_categories: bool) -> int:
    """Score `source` into the Parquet directory `dest` on the connected Ray cluster.

    `dest` appears only when every block passed: blocks are written to a sibling
    `<dest>.incomplete-<id>` that is moved into place at the end, or deleted on failure.
    """
    import pyarrow.fs as pafs
    import ray
    import ray.data

    meta = read_meta(model_dir)
    onnx = (Path(model_dir) / meta.onnx_file).read_bytes()
    fs, out = pafs.FileSystem.from_uri(dest if "://" in dest else str(Path(dest).resolve()))
    if fs.get_file_info(out).type != pafs.FileType.NotFound:
        raise UserError(f"--output: {dest} exists; remove it or choose another directory")
    staging = f"{out}.incomplete-{uuid.uuid4().hex[:8]}"
    ds = _read(source, meta, keep)
    scored = ds.map_batches(
        Scorer, batch_format="pyarrow", batch_size=chunk_rows, num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        fn_constructor_kwargs={"meta": meta.raw, "onnx": onnx, "keep": keep,
                               "allow_unknown_categories": allow_unknown_categories,
                               "source": source})
    try:
        scored.write_parquet(staging, filesystem=fs)
        rows = _rows_written(fs, staging)
        if rows == 0:
            raise UserError(f"{source}: no rows to score")
        fs.move(staging, out)
    except Exception as exc:
        if fs.get_file_info(staging).type != pafs.FileType.NotFound:
            fs.delete_dir(staging)
        rejected = _rejection(exc)
        if rejected is not None:
            raise UserError(str(rejected)) from None
        if isinstance(exc, ray.exceptions.RayError):
            raise UserError(f"ray: scoring failed: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0]}") from exc
        raise
    return rows


def connect(address: str, workers: int) -> None:
    """`local` starts a Ray instance on this machine; anything else joins that cluster."""
    import ray

    import gitops_ml

    if address == LOCAL:
        # One CPU per scoring actor plus one for Ray Data's read and write tasks, which would
        # otherwise wait for ever behind actors holding every CPU.
        ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    else:
        # The cluster's nodes have the dependencies (same image); ship this code to them.
        ray.init(address=address, log_to_driver=False, configure_logging=False,
                 runtime_env={"py_modules": [str(Path(gitops_ml.__file__).parent)]})


def main(args: argparse.Namespace) -> None:
    # Ray >= 2.43 starts workers with `uv run ...` when the driver runs under `uv run`; that
    # re-syncs the default groups (not `ray`) and every worker dies on `import ray`, so the job
    # waits for ever. Workers here use this interpreter (local) or the cluster's image. Read once
    # when Ray is imported, hence before the import.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise UserError("--ray-address: Ray is not installed; run `uv sync --group ray` "
                        "(or `uv run --group ray gitops-ml predict ...`)") from None
    from gitops_ml.predict import output_columns

    if args.chunk_rows < 1:
        raise UserError("--chunk-rows: must be >= 1")
    if args.ray_workers < 1:
        raise UserError("--ray-workers: must be >= 1")
    if Path(args.output).suffix.lower() == ".csv":
        raise UserError("--output: with --ray-address the output is a directory of Parquet "
                        "files; drop the .csv suffix")
    meta = read_meta(Path(args.model_dir))
    clash = [c for c in args.keep if c in output_columns(meta)]
    if clash:
        raise UserError(f"--keep: {', '.join(clash)} would clash with a prediction column")
    # Named sections for `gitops-ml --timings FILE` (bench/batch.py): start-up apart from scoring.
    with section("ray_start"):
        connect(args.ray_address, args.ray_workers)
    try:
        with section("ray_score"):
            rows = predict_on_ray(Path(args.model_dir), args.input, args.output, keep=args.keep,
                                  chunk_rows=args.chunk_rows, workers=args.ray_workers,
                                  allow_unknown_categories=args.allow_unknown_categories)
    finally:
        ray.shutdown()
    print(f"predict: {rows} rows scored with {meta.name} on Ray ({args.ray_workers} "
          f"worker(s)) -> {args.output}/")
