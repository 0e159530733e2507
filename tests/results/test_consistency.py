"""Committed results vs reproduced: config, comparison, stale stages, report wording, labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_ml.errors import UserError
from gitops_ml.report import consistency, render
from gitops_ml.report.consistency import MetricMismatch, ResultsConfig
from pipelines import image, remote, repro

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "reports" / "pr_report.md.j2").read_text()
METRICS = {"accuracy": 0.96, "roc_auc": 0.99}


def test_results_config_reads_tolerance_and_mode() -> None:
    cfg = ResultsConfig.from_params({"results": {"metrics_tolerance": 0.001,
                                                 "on_mismatch": "warn"}})
    assert (cfg.metrics_tolerance, cfg.on_mismatch, cfg.blocking) == (0.001, "warn", False)


def test_results_config_defaults_block_when_section_missing() -> None:
    assert ResultsConfig.from_params({}) == ResultsConfig(1e-6, "fail")


@pytest.mark.parametrize(("section", "message"), [
    ({"metrics_tolerance": -1}, "results.metrics_tolerance: expected a number ≥ 0, got -1"),
    ({"metrics_tolerance": "1e-6"}, "results.metrics_tolerance: expected a number"),
    ({"on_mismatch": "block"}, "results.on_mismatch: expected one of fail, warn, got 'block'"),
    ({"tolerance": 1}, "results.tolerance: unknown key"),
    ([1], "results: must be a mapping"),
])
def test_results_config_bad_value_names_the_key(section: object, message: str) -> None:
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(")):
        ResultsConfig.from_params({"results": section})


def test_project_params_results_section_is_valid(default_params: dict) -> None:
    assert ResultsConfig.from_params(default_params) == ResultsConfig(1e-6, "fail")


def test_compare_metrics_ignores_differences_within_tolerance() -> None:
    assert consistency.compare_metrics(METRICS, {"accuracy": 0.96 + 5e-7, "roc_auc": 0.99},
                                       1e-6) == ()


def test_compare_metrics_reports_differences_beyond_tolerance_and_one_sided_metrics() -> None:
    found = consistency.compare_metrics(METRICS, {"accuracy": 0.95, "f1_macro": 0.9}, 1e-6)
    assert found == (MetricMismatch("accuracy", 0.96, 0.95), MetricMismatch("f1_macro", None, 0.9),
                     MetricMismatch("roc_auc", 0.99, None))


def test_check_matches_when_nothing_stale_and_metrics_equal() -> None:
    result = consistency.check(ResultsConfig(), (), METRICS, dict(METRICS), [], "dvc.lock")
    assert (result.state, result.command) == ("match", "")


def test_check_stale_lock_fails_with_the_command_that_fixes_it() -> None:
    result = consistency.check(ResultsConfig(), ("evaluate",), METRICS, dict(METRICS),
                               ["reports/plots/roc.json", "dvc.lock"], "dvc.lock")
    assert result.state == "mismatch" and result.stale_stages == ("evaluate",)
    assert result.command == ('uv run dvc repro && git add dvc.lock reports/plots/roc.json && '
                              'git commit -m "Reproduce pipeline results"')


def test_check_metrics_beyond_tolerance_fail_even_with_a_matching_lock() -> None:
    result = consistency.check(ResultsConfig(), (), METRICS, {**METRICS, "accuracy": 0.5}, [],
                               "dvc.lock")
    assert result.state == "mismatch"
    assert result.mismatches == (MetricMismatch("accuracy", 0.96, 0.5),)


def test_stale_stages_ignore_missing_outputs_of_a_fresh_checkout() -> None:
    status = {"split": [{"changed deps": {"data/raw.parquet": "deleted"}},
                        {"changed outs": {"data/train.parquet": "not in cache"}}],
              "ingest": [{"changed outs": {"data/raw.parquet": "not in cache"}}],
              "evaluate": [{"changed deps": {"data/train.parquet": "deleted",
                                             "params.yaml": {"evaluate": "modified"}}}]}
    assert repro.stale_stages(status) == ("evaluate",)
    assert repro.up_to_date(status) is False


def test_repro_parse_cached_names_stages_restored_from_run_cache() -> None:
    text = ("Stage 'train' is cached - skipping run, checking out outputs\n"
            "Stage 'split' didn't change, skipping\nRunning stage 'evaluate':\n")
    assert repro.parse_cached(text) == ("train",)


def _inputs(results: consistency.Consistency | None,
            pipeline: render.Pipeline | None = None) -> render.ReportInputs:
    head = render.Results(metrics=dict(METRICS))
    return render.ReportInputs(
        base_ref="main", base_sha="a" * 40, head_sha="b" * 40,
        pipeline=pipeline or render.Pipeline("reproduced", ("evaluate",), pulled=True),
        head=head, base=head, metrics=[], params=[], gates=[], results=results)


def _mismatch(blocking: bool) -> consistency.Consistency:
    return consistency.check(ResultsConfig(on_mismatch="fail" if blocking else "warn"),
                             ("evaluate",), METRICS, {**METRICS, "accuracy": 0.95},
                             ["reports/metrics.json"], "dvc.lock")


def test_report_mismatch_section_names_stages_metrics_and_command() -> None:
    inputs = _inputs(_mismatch(blocking=True))
    md = render.render_markdown(TEMPLATE, inputs)
    assert render.verdict(inputs) == "fail"
    assert md.startswith("## ❌ Model check failed")
    assert "### ❌ Committed results are not what this commit reproduces\n" in md
    assert "DVC found stage evaluate out of date" in md
    assert "| accuracy | 0.9600 | 0.9500 | −0.0100 |" in md
    assert ('```sh\nuv run dvc repro && git add dvc.lock reports/metrics.json && '
            'git commit -m "Reproduce pipeline results"\n```') in md
    assert render.summary(inputs)["results"]["stale_stages"] == ["evaluate"]


def test_report_mismatch_only_warns_when_configured() -> None:
    inputs = _inputs(_mismatch(blocking=False))
    md = render.render_markdown(TEMPLATE, inputs)
    assert render.verdict(inputs) == "warn"
    assert "### ⚠️ Committed results are not what this commit reproduces (warning only)" in md


def test_report_matching_results_add_no_section() -> None:
    inputs = _inputs(consistency.check(ResultsConfig(), (), METRICS, dict(METRICS), [],
                                       "dvc.lock"))
    md = render.render_markdown(TEMPLATE, inputs)
    assert render.verdict(inputs) == "pass"
    assert "Committed results" not in md
    assert "unchanged stages pulled from the DVC remote, not rerun" in md


def test_report_fork_says_it_reproduced_without_the_remote() -> None:
    reason = remote.decide("sklearn:breast_cancer", {"s3": "s3://b/p"}, {}, is_fork=True).reason
    pipeline = render.Pipeline("reproduced", ("ingest", "split", "train"), remote=reason)
    md = render.render_markdown(TEMPLATE, _inputs(None, pipeline))
    assert ("> **Reproduced without the DVC remote:** pull request from a fork: GitHub gives it "
            "no secrets, so it does not use the DVC remote; stages with missing outputs are "
            "reproduced.") in md


def test_remote_push_without_remote_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    assert remote.push({}, {}) == 0
    assert capsys.readouterr().out == "remote: skip dvc push: no DVC remote configured\n"


def test_remote_push_without_credentials_fails_naming_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert remote.push({"storage": "s3://bucket/dvc"}, {}) == 1
    assert "no credentials for remote storage (s3: set one of AWS_ACCESS_KEY_ID" in \
        capsys.readouterr().err


def test_image_labels_carry_model_json_metrics(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps(
        {"metrics": {"roc_auc": 0.996032, "accuracy": 0.964912, "bad key": 1.0}}))
    assert image.metric_labels(tmp_path) == ["io.gitops-ml.model.metric.accuracy=0.964912",
                                             "io.gitops-ml.model.metric.roc_auc=0.996032"]


def test_image_labels_command_writes_multiline_output(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"metrics": {"r2": 0.5}}))
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert image.main(["labels", "--model-dir", str(tmp_path)]) == 0
    assert output.read_text() == "labels<<EOF\nio.gitops-ml.model.metric.r2=0.5\nEOF\n"
