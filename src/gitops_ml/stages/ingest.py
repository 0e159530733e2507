"""Stage `ingest`: load `data.source` and write it as Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops_ml import config
from gitops_ml.io import write_parquet
from gitops_ml.sources import batch_files, ingest


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    cfg = config.DataConfig.from_params(params)
    batches = batch_files(Path(args.batches)) if args.batches else []
    df = ingest(cfg, config.seed(params), root=Path(args.params).resolve().parent,
                batches=batches)
    write_parquet(df, args.out)
    extra = f" + {len(batches)} batch file(s)" if batches else ""
    print(f"ingest: {len(df)} rows x {df.shape[1]} columns from {cfg.source}{extra} -> {args.out}")
