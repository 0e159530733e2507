"""Stage `split`: a seeded train/test split, stratified for classification.

The row indices are scikit-learn's `train_test_split` (ShuffleSplit, or StratifiedShuffleSplit
for classes), reproduced here with NumPy so this stage does not import scikit-learn: its import
(SciPy's stats) cost more than the split itself at a million rows. tests/test_split.py checks
the indices equal scikit-learn's, so existing splits, and the metrics trained on them, stay put.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitops_ml import config
from gitops_ml.errors import UserError
from gitops_ml.io import read_arrow, write_parquet
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


def _approximate_mode(class_counts: Any, n_draws: int, rng: Any) -> Any:
    """Rows drawn per class: scikit-learn's `utils.extmath._approximate_mode`, ties by `rng`."""
    import numpy as np

    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def split_indices(n_rows: int, n_test: int, seed: int,
                  codes: Any | None = None) -> tuple[Any, Any]:
    """Train and test row positions, as `train_test_split(random_state=seed)` draws them.

    `codes` are class codes to stratify by (StratifiedShuffleSplit), or None (ShuffleSplit).
    """
    import numpy as np

    rng = np.random.RandomState(seed)
    n_train = n_rows - n_test
    if codes is None:
        permutation = rng.permutation(n_rows)
        return permutation[n_test:], permutation[:n_test]
    _, y_indices, class_counts = np.unique(codes, return_inverse=True, return_counts=True)
    n_classes = len(class_counts)
    for size, name in ((n_train, "train_size"), (n_test, "test_size")):
        if size < n_classes:
            raise UserError(f"split.test_size: the {name} = {size} should be greater or "
                            f"equal to the number of classes = {n_classes}")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):
        shuffled = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.append(shuffled[: n_i[i]])
        test.append(shuffled[n_i[i]: n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def check_order_by(columns: Any, column: str | None) -> None:
    """`split.order_by` names a column of the data (or is unset)."""
    if column is not None and column not in columns:
        raise UserError(f"split.order_by: no column {column!r} in the data "
                        f"(columns: {', '.join(map(str, list(columns)[:20]))})")


def order_positions(df: Any, column: str) -> Any:
    """Row positions from earliest to latest by `column` (dates, date strings or numbers);
    equal values keep their order in the data."""
    import pandas as pd

    check_order_by(df.columns, column)
    values = df[column]
    missing = int(values.isna().sum())
    if missing:
        raise UserError(f"split.order_by: {column!r} is missing in {missing} labelled rows; "
                        "a row without a time cannot be placed before or after the others")
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
        try:
            values = pd.to_datetime(values, format="mixed")
        except (ValueError, TypeError) as exc:
            raise UserError(f"split.order_by: {column!r} is neither dates nor numbers "
                            f"({exc})") from None
    return values.to_numpy().argsort(kind="stable")


def split_positions(df: Any, target: str, task: str, test_size: float, seed: int,
                    order_by: str | None = None) -> tuple[Any, Any]:
    """Train and test row positions in `df`, whose rows are all labelled (see `split`)."""
    import pandas as pd

    n_test = n_test_rows(len(df), test_size)
    if len(df) - n_test < 1:
        raise UserError(f"split.test_size: {test_size} of {len(df)} rows leaves an empty "
                        "training set")
    if order_by is not None:
        order = order_positions(df, order_by)
        return order[:len(df) - n_test], order[len(df) - n_test:]
    stratify = None
    if task != "regression":
        counts = df[target].value_counts()
        if counts.min() < 2:
            rare = counts[counts < 2].index.tolist()[:5]
            raise UserError(f"data.target: class(es) {rare} have a single row; "
                            "a stratified split needs at least two per class")
        # class codes, not the labels: stratifying sorts them, slow for a million strings
        stratify = pd.factorize(df[target], sort=True)[0]
    return split_indices(len(df), n_test, seed, stratify)


def split(df: Any, target: str, task: str, test_size: float, seed: int,
          order_by: str | None = None) -> tuple[Any, Any]:
    """Split the labelled rows into train and test; classes keep their proportions in both.

    With `order_by`, the test set is the latest rows by that column instead (not stratified).
    """
    df, _ = labelled(df, target)
    train, test = split_positions(df, target, task, test_size, seed, order_by)
    return df.iloc[train].reset_index(drop=True), df.iloc[test].reset_index(drop=True)


def main(args: argparse.Namespace) -> None:
    params = config.load(args.params)
    target, order_by = params.data.target, params.split.order_by
    # The rows are moved in Arrow, as read and as written: only the columns the split reads
    # become a DataFrame (a million rows of twenty columns: 0.5 s less, docs/benchmarks.md).
    table = read_arrow(args.data, key="--data")
    if target not in table.column_names:
        raise UserError(f"data.target: no column {target!r} in {args.data}")
    check_order_by(table.column_names, order_by)
    frame = table.select(list(dict.fromkeys([target, order_by or target]))).to_pandas()
    rows, dropped = labelled(frame, target)
    task = detect_task(frame[target], params.model.task)   # names the unlabelled rows it dropped
    train, test = split_positions(rows, target, task, params.split.test_size, params.seed,
                                  order_by)
    if dropped:
        table = table.filter(frame[target].notna().to_numpy())
    # Arrow releases the GIL: the two files are taken and written side by side
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(lambda rows, out: write_parquet(table.take(rows), out), *job)
                     for job in ((train, args.train), (test, args.test))]:
            done.result()
    note = f"; dropped {dropped} rows with no {target}" if dropped else ""
    if order_by:
        note += f"; test = the latest rows by {order_by}"
    print(f"split: {len(train)} train / {len(test)} test rows ({task}){note}")
