"""Stage `ingest`: load `data.source` (plus labelled batches), write it as Parquet and summarise it.

The summary (rows, columns and their types, the source's SHA-256, the batches' hashes) is a
git-tracked output, so a pull request that changes the data shows what changed in its report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import read_json, write_json, write_parquet
from gitops_ml.sources import batch_files, file_sha256, fingerprint, ingest


def summarise(df: Any, record: dict[str, Any], batches: list[Path], root: Path) -> dict[str, Any]:
    """What the ingested data is: enough to tell two versions apart and say how they differ."""
    return {
        "source": record.get("source"),
        "sha256": record.get("sha256"),
        "batches": [{"path": p.resolve().relative_to(root).as_posix()
                     if p.resolve().is_relative_to(root) else str(p), "sha256": file_sha256(p)}
                    for p in batches],
        "rows": int(len(df)),
        "columns": {str(c): str(t) for c, t in df.dtypes.items()},
    }


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    cfg = config.DataConfig.from_params(params)
    root = Path(args.params).resolve().parent
    # dvc.yaml passes the fingerprint stage's record (the hash it depends on); run by hand,
    # ingest takes its own.
    record = read_json(args.fingerprint) if args.fingerprint else fingerprint(cfg.source, root)
    if record.get("source") != cfg.source.strip():
        raise UserError(f"--fingerprint: {args.fingerprint} is for {record.get('source')!r}, "
                        f"not data.source {cfg.source!r}; run `uv run dvc repro`")
    batches = batch_files(Path(args.batches)) if args.batches else []
    df = ingest(cfg, config.seed(params), root=root, batches=batches)
    write_parquet(df, args.out)
    if args.summary:
        write_json(summarise(df, record, batches, root), args.summary)
    extra = f" + {len(batches)} batch file(s)" if batches else ""
    print(f"ingest: {len(df)} rows x {df.shape[1]} columns from {cfg.source}{extra} -> {args.out}")
