from __future__ import annotations

import re

import pandas as pd
import pytest

from gitops_ml.errors import UserError
from gitops_ml.stages.split import labelled, n_test_rows, split


@pytest.fixture
def imbalanced() -> pd.DataFrame:
    return pd.DataFrame({"x": range(100), "y": ["a"] * 80 + ["b"] * 20})


def test_split_is_stratified_for_classification(imbalanced):
    train, test = split(imbalanced, "y", "binary", 0.25, seed=0)
    assert len(test) == 25
    assert (test["y"] == "b").sum() == 5 and (train["y"] == "b").sum() == 15


def test_split_is_seeded(imbalanced):
    a, _ = split(imbalanced, "y", "binary", 0.25, seed=3)
    b, _ = split(imbalanced, "y", "binary", 0.25, seed=3)
    c, _ = split(imbalanced, "y", "binary", 0.25, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_split_regression_does_not_stratify():
    df = pd.DataFrame({"x": range(10), "y": [float(i) for i in range(10)]})
    train, test = split(df, "y", "regression", 0.3, seed=0)
    assert (len(train), len(test)) == (7, 3)


def test_split_rejects_a_class_with_one_row():
    df = pd.DataFrame({"x": range(5), "y": ["a", "a", "a", "a", "b"]})
    with pytest.raises(UserError, match=r"data\.target: class\(es\) \['b'\] have a single row"):
        split(df, "y", "binary", 0.4, seed=0)


@pytest.mark.parametrize("n_rows", [3, 7, 10, 11, 33, 101, 569, 1001])
@pytest.mark.parametrize("test_size", [0.1, 0.15, 0.2, 0.25, 0.3, 0.7, 0.9])
def test_split_sizes_match_scikit_learn(n_rows, test_size):
    from sklearn.model_selection import train_test_split

    df = pd.DataFrame({"x": range(n_rows), "y": [float(i) for i in range(n_rows)]})
    try:
        expected_train, expected_test = train_test_split(df, test_size=test_size, random_state=0)
    except ValueError:  # scikit-learn's training set would be empty: ours refuses too
        with pytest.raises(UserError, match=r"leaves an empty training set"):
            split(df, "y", "regression", test_size, seed=0)
        return
    train, test = split(df, "y", "regression", test_size, seed=0)
    assert (len(train), len(test)) == (len(expected_train), len(expected_test))
    assert n_test_rows(n_rows, test_size) == len(expected_test)


def test_split_takes_the_ceiling_for_the_test_set():
    # 0.1 of 3 rows: scikit-learn's test set is 1 row (ceil), a rounding split would have 0
    df = pd.DataFrame({"x": range(3), "y": [1.0, 2.0, 3.0]})
    train, test = split(df, "y", "regression", 0.1, seed=0)
    assert (len(train), len(test)) == (2, 1)


def test_split_rejects_test_size_that_empties_the_training_set():
    df = pd.DataFrame({"x": range(1), "y": [1.0]})
    with pytest.raises(UserError, match=r"^split\.test_size: 0\.5 of 1 rows leaves an empty "
                                        r"training set$"):
        split(df, "y", "regression", 0.5, seed=0)


def test_split_drops_rows_without_a_target():
    df = pd.DataFrame({"x": range(12),
                       "y": ["a", None, "b", "a", "b", None, "a", "b", "a", "b", "a", "b"]})
    train, test = split(df, "y", "binary", 0.2, seed=0)
    assert (len(train), len(test)) == (8, 2)
    assert pd.concat([train, test])["y"].notna().all()
    assert sorted(pd.concat([train, test])["x"]) == [0, 2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_labelled_counts_the_dropped_rows():
    df = pd.DataFrame({"y": [1.0, float("nan"), 3.0, None]})
    kept, dropped = labelled(df, "y")
    assert dropped == 2 and kept["y"].tolist() == [1.0, 3.0]


def test_split_target_missing_in_every_row_is_named():
    df = pd.DataFrame({"x": range(3), "y": [None, None, None]})
    with pytest.raises(UserError, match=r"^data\.target: 'y' is missing in all 3 rows$"):
        split(df, "y", "binary", 0.2, seed=0)


def test_split_stage_drops_unlabelled_rows_and_says_so(tmp_path, default_params, capsys):
    import yaml

    from gitops_ml import cli

    df = pd.DataFrame({"x": range(20), "y": [None, None] + ["a", "b"] * 9})
    df.to_parquet(tmp_path / "raw.parquet")
    # the task this data has, not the params' (a fork's params.yaml may say multiclass)
    params = {**default_params, "data": {"source": "d.csv", "target": "y"},
              "model": {**default_params["model"], "task": "auto"},
              "evaluate": {"slices": []}, "gates": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = cli.main(["split", "--params", str(tmp_path / "params.yaml"),
                     "--data", str(tmp_path / "raw.parquet"),
                     "--train", str(tmp_path / "train.parquet"),
                     "--test", str(tmp_path / "test.parquet")])
    assert code == 0
    assert capsys.readouterr().out == "split: 14 train / 4 test rows (binary); dropped 2 rows " \
                                      "with no y\n"
    assert len(pd.read_parquet(tmp_path / "test.parquet")) == 4


@pytest.mark.parametrize("seed", [0, 1, 42, 2024])
@pytest.mark.parametrize(("counts", "test_size"), [
    (None, 0.2),  # regression: ShuffleSplit
    (None, 0.33),
    ([80, 20], 0.25),
    ([7, 7, 7, 2], 0.3),  # tied remainders: scikit-learn breaks them with the same generator
    ([500, 300, 199, 3], 0.2),
    ([3, 2], 0.5),
])
def test_split_rows_equal_scikit_learns_train_test_split(seed, counts, test_size):
    from sklearn.model_selection import train_test_split

    n_rows = sum(counts) if counts else 257
    labels = [f"c{i}" for i, n in enumerate(counts) for _ in range(n)] if counts else None
    df = pd.DataFrame({"x": range(n_rows), "y": labels if labels else [0.5 * i for i in
                                                                        range(n_rows)]})
    df = df.sample(frac=1.0, random_state=7).reset_index(drop=True)  # classes interleaved
    task = "multiclass" if counts else "regression"
    train, test = split(df, "y", task, test_size, seed)
    expected_train, expected_test = train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df["y"] if counts else None)
    assert train["x"].tolist() == expected_train["x"].tolist()
    assert test["x"].tolist() == expected_test["x"].tolist()


def test_split_rejects_fewer_test_rows_than_classes():
    df = pd.DataFrame({"x": range(8), "y": ["a", "a", "b", "b", "c", "c", "d", "d"]})
    with pytest.raises(UserError, match=r"^split\.test_size: the test_size = 2 should be greater "
                                        r"or equal to the number of classes = 4$"):
        split(df, "y", "multiclass", 0.2, seed=0)


def dated(rows: int = 10) -> pd.DataFrame:
    """Rows out of date order: day i is on row (3 * i) % rows."""
    days = [f"2024-01-{(3 * i) % rows + 1:02d}" for i in range(rows)]
    return pd.DataFrame({"day": days, "x": range(rows), "y": ["a", "b"] * (rows // 2)})


def test_split_order_by_puts_the_latest_rows_in_test():
    train, test = split(dated(), "y", "binary", 0.2, seed=0, order_by="day")
    assert sorted(test["day"]) == ["2024-01-09", "2024-01-10"]
    assert train["day"].max() < test["day"].min()
    assert train["day"].is_monotonic_increasing


def test_split_order_by_sorts_dates_as_dates_not_text():
    df = pd.DataFrame({"day": ["9/1/2024", "10/1/2024", "11/1/2024", "1/1/2024"], "x": range(4),
                       "y": ["a", "b", "a", "b"]})
    _, test = split(df, "y", "binary", 0.25, seed=0, order_by="day")
    assert test["day"].tolist() == ["11/1/2024"]


@pytest.mark.parametrize(("change", "message"), [
    ({"order_by": "when"}, r"^split\.order_by: no column 'when' in the data"),
    ({"missing": True}, r"^split\.order_by: 'day' is missing in 1 labelled rows"),
    ({"text": True}, r"^split\.order_by: 'day' is neither dates nor numbers"),
])
def test_split_order_by_bad_column_names_the_key(change, message):
    df = dated()
    if change.get("missing"):
        df.loc[3, "day"] = None
    if change.get("text"):
        df["day"] = "soon"
    with pytest.raises(UserError, match=message):
        split(df, "y", "binary", 0.2, seed=0, order_by=change.get("order_by", "day"))


def _run_split_stage(tmp_path, default_params, data, **split_cfg):
    import yaml

    from gitops_ml import cli

    # the task the data has, not the params' (a fork's params.yaml may name another)
    params = {**default_params, "data": {"source": "d.csv", "target": "grade"},
              "model": {**default_params["model"], "task": "auto"},
              "split": {**default_params["split"], **split_cfg}, "evaluate": {"slices": []},
              "gates": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return cli.main(["split", "--params", str(tmp_path / "params.yaml"), "--data", str(data),
                     "--train", str(tmp_path / "train.parquet"),
                     "--test", str(tmp_path / "test.parquet")])


@pytest.mark.parametrize("order_by", [None, "day"])
def test_split_stage_writes_the_bytes_the_split_of_the_frame_writes(tmp_path, default_params,
                                                                     order_by):
    # the stage moves the rows in Arrow; its files are those of `split` on the DataFrame,
    # written by write_parquet, byte for byte (unlabelled rows, missing values, strings)
    from repo_tools import mixed_frame

    from gitops_ml.io import write_parquet

    df = mixed_frame(200).assign(day=[f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
                                      for i in range(200)])
    df.loc[[5, 17, 40], "grade"] = None
    write_parquet(df, tmp_path / "raw.parquet")   # as ingest writes it
    assert _run_split_stage(tmp_path, default_params, tmp_path / "raw.parquet",
                            order_by=order_by) == 0
    train, test = split(pd.read_parquet(tmp_path / "raw.parquet"), "grade", "multiclass",
                        default_params["split"]["test_size"], default_params["seed"], order_by)
    for name, frame in (("train", train), ("test", test)):
        write_parquet(frame, tmp_path / f"expected_{name}.parquet")
        assert (tmp_path / f"{name}.parquet").read_bytes() == \
            (tmp_path / f"expected_{name}.parquet").read_bytes()


@pytest.mark.parametrize("source", ["indexed.parquet", "raw.csv"])
def test_split_stage_reads_a_csv_or_a_parquet_file_with_an_index(tmp_path, default_params,
                                                                 source):
    # a file not written by ingest: a DataFrame's index is dropped, as read_table + to_parquet
    # dropped it, never carried into train/test as a column or a stale index
    from repo_tools import mixed_frame

    df = mixed_frame(60)
    df.index = [f"row{i}" for i in range(60)]
    if source.endswith(".csv"):
        df.to_csv(tmp_path / source, index=False)
    else:
        df.to_parquet(tmp_path / source)   # the index stored as a column
    assert _run_split_stage(tmp_path, default_params, tmp_path / source) == 0
    train = pd.read_parquet(tmp_path / "train.parquet")
    test = pd.read_parquet(tmp_path / "test.parquet")
    assert list(train.columns) == list(test.columns) == list(df.columns)
    assert isinstance(train.index, pd.RangeIndex) and isinstance(test.index, pd.RangeIndex)
    assert len(train) + len(test) == 60
    assert sorted(pd.concat([train, test])["weight"]) == sorted(df["weight"])


@pytest.mark.parametrize(("name", "content", "message"), [
    ("raw.parquet", b"not parquet at all", r"^--data: cannot read .*raw\.parquet: "),
    ("missing.parquet", None, r"^--data: file not found: .*missing\.parquet$"),
])
def test_split_stage_names_the_data_it_cannot_read(tmp_path, default_params, capsys, name,
                                                   content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert _run_split_stage(tmp_path, default_params, tmp_path / name) == 2
    err = capsys.readouterr().err.removeprefix("gitops-ml split: error: ")
    assert re.match(message, err), err
    assert not (tmp_path / "train.parquet").exists()


def test_split_stage_orders_by_the_target_itself(tmp_path, default_params):
    # split.order_by may name the target (a numeric one): it is read once, not twice
    from gitops_ml.io import write_parquet

    df = pd.DataFrame({"x": range(10), "grade": [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 0.0]})
    write_parquet(df, tmp_path / "raw.parquet")
    assert _run_split_stage(tmp_path, default_params, tmp_path / "raw.parquet",
                            order_by="grade", test_size=0.2) == 0
    assert pd.read_parquet(tmp_path / "test.parquet")["grade"].tolist() == [8.0, 9.0]
