"""pipelines.promote --experiment: the experiment's verdict travels with the promotion."""

from __future__ import annotations

import json

import pytest

from gitops_ml.errors import UserError
from pipelines.promote import experiment_outputs


def report(tmp_path, version):
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps({"verdict": "promote", "why": "the challenger is better",
                                "models": {"challenger": {"version": version}}}))
    return path


def test_promote_experiment_attaches_the_verdict_of_the_promoted_version(tmp_path):
    assert experiment_outputs(report(tmp_path, "v1.1.0"), "v1.1.0") == {
        "experiment_verdict": "promote", "experiment_why": "the challenger is better"}


def test_promote_experiment_about_another_version_says_so(tmp_path):
    out = experiment_outputs(report(tmp_path, "v1.0.0"), "v1.1.0")
    assert out["experiment_why"] == ("the report judged v1.0.0, not v1.1.0: "
                                     "the challenger is better")


def test_promote_experiment_that_is_not_a_report_is_an_error(tmp_path):
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(UserError, match=r"^--experiment: .*x\.json is not an experiment report"):
        experiment_outputs(tmp_path / "x.json", "v1")
