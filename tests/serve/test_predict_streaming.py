"""`gitops-ml predict` streams: bounded CSV blocks rejoined into fixed-size chunks, in order."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from gitops_ml import cli, predict


def batches(*sizes):
    start = 0
    for n in sizes:
        yield pa.record_batch({"a": list(range(start, start + n))})
        start += n


def test_rechunk_joins_and_splits_blocks_into_exact_chunks_in_order():
    out = list(predict.rechunk(batches(3, 0, 10, 7, 1), 4))
    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 1]
    assert [v for b in out for v in b.column(0).to_pylist()] == list(range(21))
    assert all(isinstance(b, pa.RecordBatch) for b in out)


def test_rechunk_of_nothing_is_nothing():
    assert list(predict.rechunk(batches(), 5)) == []
    assert list(predict.rechunk(batches(0, 0), 5)) == []


def test_predict_scores_a_csv_of_many_blocks_in_input_order(tmp_path, mixed_model):
    test = pd.read_parquet(mixed_model.test)
    big = pd.concat([test] * (3 * predict.CSV_BLOCK_BYTES // len(test.to_csv()) + 1),
                    ignore_index=True)
    big["row_id"] = range(len(big))
    source = tmp_path / "big.csv"
    big.to_csv(source, index=False)
    assert source.stat().st_size > 3 * predict.CSV_BLOCK_BYTES   # several reader blocks
    out = tmp_path / "out.parquet"
    assert cli.main(["predict", str(source), "-o", str(out), "--model-dir", str(mixed_model.dir),
                     "--keep", "row_id", "--chunk-rows", "1000"]) == 0
    scored = pd.read_parquet(out)
    assert scored["row_id"].tolist() == list(range(len(big)))
    # the same row scores the same in every copy, whichever block and chunk it fell in
    per_copy = scored["label"].to_numpy().reshape(-1, len(test))
    assert (per_copy == per_copy[0]).all()


@pytest.mark.parametrize("chunk_rows", ["0", "-3"])
def test_predict_refuses_a_chunk_size_below_one(tmp_path, mixed_model, chunk_rows, capsys):
    code = cli.main(["predict", str(mixed_model.test), "-o", str(tmp_path / "o.parquet"),
                     "--model-dir", str(mixed_model.dir), "--chunk-rows", chunk_rows])
    assert code == 2
    assert "--chunk-rows: must be >= 1" in capsys.readouterr().err
