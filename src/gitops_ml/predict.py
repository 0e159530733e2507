"""`gitops-ml predict`: score a CSV or Parquet file in chunks with the serving model and checks."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.features import Feature, FeatureSchema, InvalidInput
from gitops_ml.io import atomic_path
from gitops_ml.serve.model import ModelMeta, OnnxModel, read_meta

SHOW_PROBLEMS = 10
# Arrow's streaming CSV reader decodes a fixed number of blocks ahead of the consumer (about 25
# here), so its memory is that many blocks, not one: 16 MiB blocks held 400 MiB in flight. 1 MiB
# blocks bound it near 40 MiB; rechunk() then joins them into --chunk-rows batches (bench/batch.py).
CSV_BLOCK_BYTES = 1 << 20
PARQUET_BUFFER_BYTES = 1 << 20


def output_columns(meta: ModelMeta) -> list[str]:
    """Prediction columns: label + proba_<class> per class, or value for a regressor."""
    if meta.is_classifier:
        return ["label", *(f"proba_{c}" for c in meta.classes or ())]
    return ["value"]


def _check_types(schema: Any, features: tuple[Feature, ...], path: Path) -> None:
    import pyarrow.types as pat

    for f in features:
        t = schema.field(f.name).type
        if pat.is_dictionary(t):
            t = t.value_type
        ok = {"number": pat.is_integer(t) or pat.is_floating(t),
              "category": pat.is_string(t) or pat.is_large_string(t),
              "boolean": pat.is_boolean(t)}[f.kind]
        if not (ok or pat.is_null(t)):
            want = {"number": "numbers", "category": "strings", "boolean": "true/false"}[f.kind]
            raise UserError(f"{path}: column {f.name!r} must hold {want}, found {t}")


def read_batches(path: Path, schema: FeatureSchema, keep: list[str],
                 chunk_rows: int) -> Iterator[Any]:
    """Record batches of at most `chunk_rows` rows holding the features and `keep` columns.

    The file may hold the columns the model ignores (as a /predict record may); any other
    column, unless named in `keep`, is refused, as /predict refuses an unexpected field.
    """
    features = schema.features
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise UserError(f"INPUT: file not found: {path}")
    wanted = list(dict.fromkeys([*(f.name for f in features), *keep]))
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            # pre_buffer (on by default) reads ahead across row groups, so memory grew with the
            # file (370 -> 1018 MiB from 1M to 10M rows); a buffered stream reads a page at a time.
            source = pq.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
            names = source.schema_arrow.names
            _require(names, wanted, path, schema, keep)
            _check_types(source.schema_arrow, features, path)
            batches = source.iter_batches(batch_size=chunk_rows, columns=wanted)
        elif suffix in (".csv", ".txt"):
            read = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
            with pcsv.open_csv(path, read_options=read) as probe:
                _require(probe.schema.names, wanted, path, schema, keep)
            # Types from the model, not inferred per block: "007" stays a category, and a block of
            # whole numbers cannot fix a float column's type for the blocks after it.
            types = {f.name: {"number": pa.float64(), "category": pa.string(),
                              "boolean": pa.bool_()}[f.kind] for f in features}
            convert = pcsv.ConvertOptions(include_columns=wanted, column_types=types,
                                          strings_can_be_null=True)
            batches = pcsv.open_csv(path, read_options=read, convert_options=convert)
        else:
            raise UserError(f"INPUT: unsupported file type {suffix!r} (use .csv or .parquet)")
        yield from rechunk(batches, chunk_rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from exc


def rechunk(batches: Iterable[Any], chunk_rows: int) -> Iterator[Any]:
    """Record batches of exactly `chunk_rows` rows (the last may be shorter), in input order."""
    held: list[Any] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = batch.slice(0, chunk_rows - rows)
            held.append(take)
            rows += take.num_rows
            batch = batch.slice(take.num_rows)
            if rows == chunk_rows:
                yield _join(held)
                held, rows = [], 0
    if rows:
        yield _join(held)


def _join(batches: list[Any]) -> Any:
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _require(names: list[str], wanted: list[str], path: Path, schema: FeatureSchema,
             keep: list[str]) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise UserError(f"{path}: column(s) missing: {', '.join(missing)}")
    unknown = [c for c in schema.unknown_columns(names) if c not in keep]
    if unknown:
        raise UserError(f"{path}: unexpected column(s) {', '.join(unknown[:10])}: not features "
                        "of the model, its target or columns the data contract excludes "
                        "(--keep passes a column through)")


def score(model: OnnxModel, schema: FeatureSchema, batch: Any, offset: int) -> dict[str, Any]:
    """Validate one batch by the server's feature schema, then score it (never a NaN)."""
    columns = {f.name: batch.column(f.name).to_numpy(zero_copy_only=False)
               for f in schema.features}
    feeds = schema.arrays(columns, batch.num_rows, row_offset=offset)
    outputs = model.score(feeds, schema, row_offset=offset)
    if not model.meta.is_classifier:
        return {"value": outputs["value"].ravel()}
    out: dict[str, Any] = {"label": [str(v) for v in outputs["label"].ravel().tolist()]}
    for i, cls in enumerate(model.meta.classes or ()):
        out[f"proba_{cls}"] = outputs["probabilities"][:, i]
    return out


def predict_file(model: OnnxModel, schema: FeatureSchema, source: Path, dest: Path,
                 keep: list[str], chunk_rows: int) -> int:
    """Score `source` into `dest` chunk by chunk; `dest` appears only if every row passed."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    suffix = dest.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UserError(f"--output: unsupported file type {suffix!r} (use .csv or .parquet)")
    rows = 0
    with atomic_path(dest) as tmp:
        writer = None
        try:
            for batch in read_batches(source, schema, keep, chunk_rows):
                try:
                    scored = score(model, schema, batch, rows)
                except InvalidInput as exc:
                    raise UserError(_describe(exc, source)) from None
                table = pa.table({**{c: batch.column(c) for c in keep}, **scored})
                if writer is None:
                    writer = (pq.ParquetWriter(tmp, table.schema) if suffix == ".parquet"
                              else pcsv.CSVWriter(tmp, table.schema))
                writer.write_table(table)
                rows += batch.num_rows
            if writer is None:
                raise UserError(f"{source}: no rows to score")
        finally:
            if writer is not None:
                writer.close()
    return rows


def _describe(exc: InvalidInput, source: Path) -> str:
    shown = "; ".join(f"row {p.row}, {p.field}: {p.error}" for p in exc.problems[:SHOW_PROBLEMS])
    more = exc.count - SHOW_PROBLEMS
    return (f"{source}: {exc.count} invalid value(s) (rows count from 0): {shown}"
            + (f"; and {more} more in this chunk" if more > 0 else ""))


def main(args: argparse.Namespace) -> None:
    if args.chunk_rows < 1:
        raise UserError("--chunk-rows: must be >= 1")
    model_dir = Path(args.model_dir)
    meta = read_meta(model_dir)
    model = OnnxModel.load(model_dir, meta)
    schema = meta.schema(reject_unknown_categories=not args.allow_unknown_categories)
    clash = [c for c in args.keep if c in output_columns(meta)]
    if clash:
        raise UserError(f"--keep: {', '.join(clash)} would clash with a prediction column")
    rows = predict_file(model, schema, Path(args.input), Path(args.output), args.keep,
                        args.chunk_rows)
    print(f"predict: {rows} rows scored with {meta.name} -> {args.output}")
