from __future__ import annotations

import json
import threading

import pytest

from gitops_ml.errors import UserError
from gitops_ml.features import Feature, Problem
from gitops_ml.monitor.predlog import PredictionLog, log_files, read_records, to_frame

FEATURES = (Feature("size", "number", nullable=True),
            Feature("colour", "category", nullable=True, tensor="string"))


def columns(n: int) -> dict[str, list]:
    size = [0.1 * i for i in range(n)]
    size[0] = None
    colour = ["red"] * n
    colour[1] = ""
    return {"size": size, "colour": colour}


def make(folder, **kw) -> PredictionLog:
    kw.setdefault("sample_rate", 1.0)
    return PredictionLog(str(folder), features=FEATURES, model="m", version=kw.pop("version", None),
                         **kw)


def lines(folder) -> list[dict]:
    [path] = list(folder.glob("predictions-*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prediction_log_writes_every_row_as_received_with_nulls_for_missing(tmp_path):
    log = make(tmp_path / "logs", version="v1.0.0")
    log.record(columns(3), ["a", "b", "a"])
    log.close()
    [line] = lines(tmp_path / "logs")  # one line per request, column by column
    assert line["predictions"] == ["a", "b", "a"] and line["rows"] == 3
    # 0.1 and 0.2 exactly as sent (a float32 round trip would give 0.10000000149011612)
    assert line["inputs"] == {"size": [None, 0.1, 0.2], "colour": ["red", None, "red"]}
    assert line["model"] == "m" and line["version"] == "v1.0.0"
    assert line["ts"].endswith("Z")


def test_prediction_log_opens_one_file_per_process_at_start(tmp_path):
    log = make(tmp_path)
    assert log.path.startswith(str(tmp_path / "predictions-"))
    assert log.path.endswith(".jsonl") and (tmp_path / log.path).exists()
    log.close()


def test_prediction_log_that_cannot_be_opened_fails_at_once(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"GITOPS_ML_PREDICTION_LOG: cannot write a log file in "):
        make(tmp_path / "file" / "logs")


def test_prediction_log_samples_at_the_configured_rate(tmp_path):
    log = make(tmp_path, sample_rate=0.1, seed=0)
    for _ in range(100):
        log.record(columns(10), ["a"] * 10)
    log.close()
    written = sum(r["rows"] for r in lines(tmp_path))
    assert written == log.written == sum(len(r["predictions"]) for r in lines(tmp_path))
    assert 60 <= written <= 140  # 1000 rows at 10%: 100 expected, 4 sigma either side


def test_prediction_log_off_writes_nothing(tmp_path):
    log = make(tmp_path, sample_rate=0.0)
    log.record(columns(5), ["a"] * 5)
    log.close()
    assert lines(tmp_path) == []


def test_prediction_log_drops_rather_than_blocks_when_the_queue_is_full(tmp_path):
    log = make(tmp_path, max_queue=1)
    for _ in range(200):
        log.record(columns(5), ["a"] * 5)
    log.close()
    assert log.dropped + log.written == 1000 and log.written >= 5


def test_prediction_log_close_is_bounded_when_the_writer_is_stuck(tmp_path):
    log = make(tmp_path, max_queue=1)
    gate = threading.Event()
    stuck = log._format  # a writer blocked on I/O, as on a hung network volume

    def slow(*item):
        gate.wait(10)
        return stuck(*item)

    log._format = slow  # type: ignore[method-assign]
    log.record(columns(2), ["a", "b"])
    log.record(columns(2), ["a", "b"])
    thread = threading.Thread(target=log.close, kwargs={"timeout": 0.5})
    thread.start()
    thread.join(3)
    gate.set()
    assert not thread.is_alive()


def test_prediction_log_records_refusals_with_reasons_and_typed_values(tmp_path):
    log = make(tmp_path)
    log.rejected({"size": ["big", 2.5], "colour": ["mauve", 3]}, 2,
                 [Problem(0, "size", "expected a number"),
                  Problem(1, "colour", "expected a string")])
    log.close()
    [line] = lines(tmp_path)
    assert line["status"] == 422 and line["predictions"] == [None, None]
    assert line["inputs"] == {"size": [None, 2.5], "colour": ["mauve", None]}
    assert line["errors"][0] == {"row": 0, "field": "size", "error": "expected a number"}


def test_prediction_log_round_trips_to_a_frame(tmp_path):
    log = make(tmp_path)
    log.record(columns(4), [1.5, 2.5, 3.5, 4.5])
    log.close()
    inputs, predictions = to_frame(read_records(log_files(tmp_path)))
    assert list(inputs.columns) == ["size", "colour"] and len(inputs) == 4
    assert predictions.tolist() == [1.5, 2.5, 3.5, 4.5]


def test_read_records_names_file_and_line_of_a_bad_record(tmp_path):
    (tmp_path / "bad.jsonl").write_text(
        '{"inputs": {"a": [1]}, "predictions": ["x"]}\n{"inputs": {"a": 1}, "predictions": []}\n'
        '{"inputs": {"a": [1]}, "predictions": ["x"]}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not a prediction log record"):
        list(read_records([tmp_path / "bad.jsonl"]))


def test_read_records_skips_a_cut_off_last_line(tmp_path, capsys):
    good = '{"inputs": {"a": [1]}, "predictions": ["x"]}\n'
    (tmp_path / "cut.jsonl").write_text(good * 2 + '{"inputs": {"a": [1]}, "predi')
    assert len(list(read_records([tmp_path / "cut.jsonl"]))) == 2
    assert "cut.jsonl:3: skipped a cut-off last line" in capsys.readouterr().err


def test_sample_rate_out_of_range_is_rejected(tmp_path):
    with pytest.raises(UserError, match=r"sample rate must be in \[0, 1\], got 1\.5"):
        make(tmp_path, sample_rate=1.5)
