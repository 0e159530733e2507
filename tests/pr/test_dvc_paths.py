"""pipelines.dvc_paths: code takes its paths from dvc.yaml, and fails when the two disagree."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from prtools import PROJECT

from gitops_ml.errors import UserError
from pipelines import dvc_paths, monitor, pr, smoke

DVC = """
stages:
  evaluate:
    cmd: gitops-ml evaluate --model m.joblib --metrics reports/m.json --name model --seed 3
    deps: [m.joblib]
    metrics:
      - reports/m.json:
          cache: false
"""


def test_dvc_paths_reads_declared_flag_paths_only():
    assert dvc_paths.stage_paths(DVC) == {"evaluate": {"--model": "m.joblib",
                                                       "--metrics": "reports/m.json"}}


def test_dvc_paths_names_the_stage_and_flag_it_cannot_find():
    stages = dvc_paths.stage_paths(DVC)
    with pytest.raises(UserError, match=r"^dvc.yaml: stages.evaluate.cmd passes no declared "
                                        r"path as --plots$"):
        dvc_paths.path(stages, "evaluate", "--plots")
    with pytest.raises(UserError, match=r"^dvc.yaml: no stage 'train' \(stages: evaluate\)$"):
        dvc_paths.path(stages, "train", "--out")


def test_dvc_paths_refuses_a_stage_without_one_command():
    with pytest.raises(UserError, match=r"stages.evaluate.cmd: expected one command string"):
        dvc_paths.stage_paths("stages:\n  evaluate:\n    cmd: [a, b]\n")


def test_dvc_paths_fill_keeps_what_the_caller_gave(tmp_path: Path):
    (tmp_path / "dvc.yaml").write_text(DVC)
    args = argparse.Namespace(metrics=None, model="given.joblib")
    dvc_paths.fill(args, {"metrics": ("evaluate", "--metrics"),
                          "model": ("evaluate", "--model")}, tmp_path / "dvc.yaml")
    assert (args.metrics, args.model) == ("reports/m.json", "given.joblib")


# Every path pipelines/ takes from the project's dvc.yaml: a renamed flag, stage or output there
# fails here, not in CI.
@pytest.mark.parametrize("sources", [pr.FROM_DVC_YAML, monitor.FROM_DVC_YAML,
                                     {"pipeline": ("train", "--out"), "test": ("split", "--test")},
                                     dict(enumerate(dvc_paths.IMAGE_INPUTS))])
def test_pipelines_paths_are_declared_in_the_project_dvc_yaml(sources):
    stages = dvc_paths.load(PROJECT / "dvc.yaml")
    for stage, flag in sources.values():
        assert dvc_paths.path(stages, stage, flag)


def test_pr_defaults_are_what_dvc_yaml_declares(monkeypatch):
    monkeypatch.chdir(PROJECT)
    args = pr.build_parser().parse_args([])
    dvc_paths.fill(args, pr.FROM_DVC_YAML, PROJECT / args.dvc_yaml)
    assert args.metrics == "reports/metrics.json"
    assert args.data_validation == "reports/data_validation.json"
    assert args.model_tests == "reports/model_tests.json"


def test_smoke_defaults_are_what_dvc_yaml_declares(monkeypatch):
    monkeypatch.chdir(PROJECT)
    args = smoke.build_parser().parse_args(["--url", "http://127.0.0.1:1"])
    smoke._paths_from_dvc_yaml(args)
    assert (args.model_dir, args.pipeline, args.test) == (
        Path("models"), Path("models/pipeline.joblib"), Path("data/test.parquet"))
