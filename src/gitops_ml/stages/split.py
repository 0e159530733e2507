"""Stage `split`: a seeded train/test split, stratified for classification."""

from __future__ import annotations

import argparse
from typing import Any

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import read_table, write_parquet
from gitops_ml.task import detect_task


def split(df: Any, target: str, task: str, test_size: float, seed: int) -> tuple[Any, Any]:
    """Split rows into train and test; classes keep their proportions in both."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    stratify = None
    if task != "regression":
        counts = df[target].value_counts()
        if counts.min() < 2:
            rare = counts[counts < 2].index.tolist()[:5]
            raise UserError(f"data.target: class(es) {rare} have a single row; "
                            "a stratified split needs at least two per class")
        # class codes, not the labels: stratifying sorts them, slow for a million strings
        stratify = pd.factorize(df[target], sort=True)[0]
    n_test = round(len(df) * test_size)
    if n_test < 1 or len(df) - n_test < 1:
        raise UserError(f"split.test_size: {test_size} of {len(df)} rows leaves an empty split")
    try:
        train, test = train_test_split(df, test_size=test_size, random_state=seed,
                                       stratify=stratify)
    except ValueError as exc:  # e.g. fewer test rows than classes
        raise UserError(f"split.test_size: {exc}") from exc
    return train.reset_index(drop=True), test.reset_index(drop=True)


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    cfg = config.SplitConfig.from_params(params)
    model_cfg = config.ModelConfig.from_params(params)
    target = config.DataConfig.from_params(params).target
    df = read_table(args.data, key="--data")
    task = detect_task(df[target], model_cfg.task)
    train, test = split(df, target, task, cfg.test_size, config.seed(params))
    write_parquet(train, args.train)
    write_parquet(test, args.test)
    print(f"split: {len(train)} train / {len(test)} test rows ({task})")
