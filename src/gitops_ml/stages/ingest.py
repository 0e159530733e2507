"""Stage `ingest`: load `data.source` and write it as Parquet."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops_ml import config
from gitops_ml.io import write_parquet
from gitops_ml.sources import ingest


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    cfg = config.DataConfig.from_params(params)
    df = ingest(cfg, config.seed(params), root=Path(args.params).resolve().parent)
    write_parquet(df, args.out)
    print(f"ingest: {len(df)} rows x {df.shape[1]} columns from {cfg.source} -> {args.out}")
