"""A row of the training data is scored as is, by /predict and by `gitops-ml predict` alike.

The target and the columns the data contract excludes (IDs, free text) are accepted and ignored;
any other name is refused by both, naming it (issue 21, item 7).
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from gitops_ml import cli


@pytest.fixture
def model_with_id(tmp_path, mixed_model):
    """The mixed model as if its contract excluded an `id` column (model.json says so)."""
    folder = tmp_path / "model"
    shutil.copytree(mixed_model.dir, folder)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "excluded": ["id"]}))
    return folder


def test_predict_scores_a_training_row_ignoring_its_id_and_target(client_for, model_with_id,
                                                                  good_record):
    with client_for(model_with_id) as client:
        plain = client.post("/predict", json=[good_record])
        copied = client.post("/predict", json=[{"id": 17, **good_record, "grade": "mid"}])
    assert copied.status_code == 200
    assert copied.json()["predictions"] == plain.json()["predictions"]


def test_predict_still_refuses_a_field_the_contract_does_not_name(client_for, model_with_id,
                                                                  good_record):
    with client_for(model_with_id) as client:
        response = client.post("/predict", json=[{**good_record, "idd": 17}])
    assert response.status_code == 422
    assert response.json()["errors"] == [{"row": 0, "field": "idd", "error": "unexpected field"}]


def test_openapi_record_allows_the_ignored_columns(client_for, model_with_id):
    with client_for(model_with_id) as client:
        record = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert {"id", "grade"} <= set(record["properties"]) and "id" not in record["required"]
    assert record["additionalProperties"] is False


def _training_file(tmp_path, mixed_model, **extra) -> str:
    df = pd.read_parquet(mixed_model.test).assign(id=range(len(pd.read_parquet(
        mixed_model.test))), **extra)
    path = tmp_path / "rows.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_batch_predict_takes_the_same_file(tmp_path, mixed_model, model_with_id):
    source = _training_file(tmp_path, mixed_model)
    assert cli.main(["predict", source, "-o", str(tmp_path / "out.csv"),
                     "--model-dir", str(model_with_id), "--keep", "id"]) == 0
    assert pd.read_csv(tmp_path / "out.csv").columns[0] == "id"


def test_batch_predict_refuses_a_column_the_contract_does_not_name(tmp_path, mixed_model,
                                                                  model_with_id, capsys):
    source = _training_file(tmp_path, mixed_model, idd=1)
    assert cli.main(["predict", source, "-o", str(tmp_path / "out.csv"),
                     "--model-dir", str(model_with_id)]) == 2
    assert "unexpected column(s) idd" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()
