from __future__ import annotations

import json

import numpy as np
import pytest

from gitops_ml.errors import UserError
from gitops_ml.monitor.predlog import PredictionLog, log_files, read_records, to_frame


def feeds(n: int) -> dict[str, np.ndarray]:
    size = np.arange(n, dtype=np.float32).reshape(-1, 1)
    size[0, 0] = np.nan
    colour = np.array(["red"] * n, dtype=object).reshape(-1, 1)
    colour[1, 0] = ""
    return {"size": size, "colour": colour}


def test_prediction_log_writes_every_row_with_nulls_for_missing(tmp_path):
    path = tmp_path / "logs" / "predictions.jsonl"
    log = PredictionLog(str(path), sample_rate=1.0, model="m", version="v1.0.0")
    log.record(feeds(3), ["a", "b", "a"])
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 1  # one line per request, column by column
    assert lines[0]["predictions"] == ["a", "b", "a"] and lines[0]["rows"] == 3
    assert lines[0]["inputs"] == {"size": [None, 1.0, 2.0], "colour": ["red", None, "red"]}
    assert lines[0]["model"] == "m" and lines[0]["version"] == "v1.0.0"
    assert lines[0]["ts"].endswith("Z")


def test_prediction_log_samples_at_the_configured_rate(tmp_path):
    path = tmp_path / "p.jsonl"
    log = PredictionLog(str(path), sample_rate=0.1, model="m", version=None, seed=0)
    for _ in range(100):
        log.record(feeds(10), ["a"] * 10)
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    written = sum(r["rows"] for r in lines)
    assert written == log.written == sum(len(r["predictions"]) for r in lines)
    assert 60 <= written <= 140  # 1000 rows at 10%: 100 expected, 4 sigma either side


def test_prediction_log_off_writes_nothing(tmp_path):
    path = tmp_path / "p.jsonl"
    log = PredictionLog(str(path), sample_rate=0.0, model="m", version=None)
    log.record(feeds(5), ["a"] * 5)
    log.close()
    assert path.read_text() == ""


def test_prediction_log_drops_rather_than_blocks_when_the_queue_is_full(tmp_path):
    log = PredictionLog(str(tmp_path / "p.jsonl"), sample_rate=1.0, model="m", version=None,
                        max_queue=1)
    for _ in range(200):
        log.record(feeds(5), ["a"] * 5)
    log.close()
    assert log.dropped + log.written == 1000 and log.written >= 5


def test_prediction_log_round_trips_to_a_frame(tmp_path):
    path = tmp_path / "p.jsonl"
    log = PredictionLog(str(path), sample_rate=1.0, model="m", version=None)
    log.record(feeds(4), [1.5, 2.5, 3.5, 4.5])
    log.close()
    inputs, predictions = to_frame(read_records(log_files(tmp_path)))
    assert list(inputs.columns) == ["size", "colour"] and len(inputs) == 4
    assert predictions.tolist() == [1.5, 2.5, 3.5, 4.5]


def test_read_records_names_file_and_line_of_a_bad_record(tmp_path):
    (tmp_path / "bad.jsonl").write_text(
        '{"inputs": {"a": [1]}, "predictions": ["x"]}\n{"inputs": {"a": 1}, "predictions": []}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not a prediction log record"):
        list(read_records([tmp_path / "bad.jsonl"]))


def test_sample_rate_out_of_range_is_rejected(tmp_path):
    with pytest.raises(UserError, match=r"sample rate must be in \[0, 1\], got 1\.5"):
        PredictionLog(str(tmp_path / "p.jsonl"), sample_rate=1.5, model="m", version=None)
