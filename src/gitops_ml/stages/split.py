"""Stage `split`: a seeded train/test split, stratified for classification."""

from __future__ import annotations

import argparse
import math
from typing import Any

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import read_table, write_parquet
from gitops_ml.task import detect_task


def labelled(df: Any, target: str) -> tuple[Any, int]:
    """The rows whose target is known, and how many were dropped (unlabelled rows are normal)."""
    known = df[target].notna()
    dropped = int((~known).sum())
    if dropped == len(df):
        raise UserError(f"data.target: {target!r} is missing in all {len(df)} rows")
    return (df[known] if dropped else df), dropped


def n_test_rows(n_rows: int, test_size: float) -> int:
    """Rows in the test set: scikit-learn's rule, the ceiling of `test_size * n_rows`."""
    return math.ceil(test_size * n_rows)


def split(df: Any, target: str, task: str, test_size: float, seed: int) -> tuple[Any, Any]:
    """Split the labelled rows into train and test; classes keep their proportions in both."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df, _ = labelled(df, target)
    stratify = None
    if task != "regression":
        counts = df[target].value_counts()
        if counts.min() < 2:
            rare = counts[counts < 2].index.tolist()[:5]
            raise UserError(f"data.target: class(es) {rare} have a single row; "
                            "a stratified split needs at least two per class")
        # class codes, not the labels: stratifying sorts them, slow for a million strings
        stratify = pd.factorize(df[target], sort=True)[0]
    n_test = n_test_rows(len(df), test_size)
    if len(df) - n_test < 1:
        raise UserError(f"split.test_size: {test_size} of {len(df)} rows leaves an empty "
                        "training set")
    try:
        train, test = train_test_split(df, test_size=test_size, random_state=seed,
                                       stratify=stratify)
    except ValueError as exc:  # e.g. fewer test rows than classes
        raise UserError(f"split.test_size: {exc}") from exc
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(args: argparse.Namespace) -> None:
    params = config.load(args.params)
    target = params.data.target
    df = read_table(args.data, key="--data")
    if target not in df.columns:
        raise UserError(f"data.target: no column {target!r} in {args.data}")
    df, dropped = labelled(df, target)
    task = detect_task(df[target], params.model.task)
    train, test = split(df, target, task, params.split.test_size, params.seed)
    write_parquet(train, args.train)
    write_parquet(test, args.test)
    note = f"; dropped {dropped} rows with no {target}" if dropped else ""
    print(f"split: {len(train)} train / {len(test)} test rows ({task}){note}")
