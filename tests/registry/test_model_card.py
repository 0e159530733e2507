"""The model card: required sections, values from the results, reproducible, clear errors."""

from __future__ import annotations

import argparse
import json
import re

import pytest
from conftest import DIGEST_A, META, PROJECT, REPOSITORY

from gitops_ml import model_card
from gitops_ml.errors import UserError
from gitops_ml.report.gates import GatesConfig

TEMPLATE = (PROJECT / "reports" / "model_card.md.j2").read_text()
SECTIONS = ["## Intended use and limits", "## Version and provenance", "## Training data",
            "## Parameters", "## Metrics", "## Slice metrics", "## Gates"]
SLICES = {"tenure": [{"slice": "0–12", "n": 40, "accuracy": 0.8, "f1_macro": 0.7},
                     {"slice": "12–72", "n": 60, "accuracy": 0.95, "f1_macro": 0.9}]}


def inputs(**changes) -> model_card.CardInputs:
    base = dict(
        meta=META, metrics={"accuracy": 0.9, "roc_auc": 0.95}, slices=SLICES,
        importance={"importance": [{"feature": "tenure", "importance": 0.2, "std": 0.01}]},
        validation={"passed": True, "rows": 1000, "columns": 3},
        parity={"passed": True, "max_abs_diff": 1e-7, "label_agreement": 1.0,
                "tolerance": {"max_abs_diff": 1e-3, "min_label_agreement": 1.0}},
        gates=GatesConfig.from_params({"gates": {"floors": {"accuracy": 0.85},
                                                 "max_regression": {"accuracy": {"abs": 0.01}},
                                                 "onnx_parity": True, "data_contract": True}}),
        intended_use="<!-- editor's note -->\n**Intended use.** Churn triage.\n")
    base.update(changes)
    return model_card.CardInputs(**base)


def test_render_has_every_required_section_in_order():
    text = model_card.render(TEMPLATE, inputs())
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)


def test_render_shows_data_hash_size_metrics_and_slices():
    text = model_card.render(TEMPLATE, inputs())
    assert f"`{'c' * 64}`" in text and "| Training rows | 800 |" in text
    assert "| roc_auc | 0.9500 |" in text
    assert "| 0–12 | 40 | 0.8000 | 0.7000 |" in text


def test_render_names_no_commit_so_the_stage_reproduces_on_any_checkout():
    # the card is a DVC output: a commit in it would change with every checkout (issue 21)
    text = model_card.render(TEMPLATE, inputs())
    assert f"{'d' * 40}" not in text
    assert "| Code, data and params | pinned by `dvc.lock` in the commit that holds this card" \
        in text


def test_render_quotes_intended_use_without_editor_comments():
    text = model_card.render(TEMPLATE, inputs())
    assert "**Intended use.** Churn triage." in text and "editor's note" not in text


def test_render_lists_gates_checked_without_a_baseline():
    text = model_card.render(TEMPLATE, inputs())
    assert "| accuracy floor | ≥ 0.8500 | 0.9000 | pass |" in text
    assert "| ONNX parity |" in text and "| data contract |" in text
    assert "accuracy regression" not in text          # checked against main, in the PR
    assert "Every blocking gate passed." in text


def test_render_says_when_a_blocking_gate_failed():
    text = model_card.render(TEMPLATE, inputs(metrics={"accuracy": 0.8, "roc_auc": 0.9}))
    assert "**A blocking gate did not pass.**" in text


def test_render_shows_version_and_digest_when_known():
    image = f"{REPOSITORY}@{DIGEST_A}"
    text = model_card.render(TEMPLATE, inputs(version="v1.2.0", image=image))
    assert text.startswith("# Model card: model v1.2.0\n")
    assert f"| Image | `{image}` |" in text


def test_render_is_reproducible_and_carries_no_dates():
    first, second = (model_card.render(TEMPLATE, inputs()) for _ in range(2))
    assert first == second
    assert not re.search(r"\d{4}-\d{2}-\d{2}", first)


def test_render_escapes_table_breaking_names():
    text = model_card.render(TEMPLATE, inputs(slices={"plan": [
        {"slice": "a|b", "n": 3, "accuracy": 1.0}]}))
    assert "| a¦b | 3 | 1.0000 |" in text


def card_args(tmp_path, **overrides) -> argparse.Namespace:
    files = {"meta": META, "metrics": {"accuracy": 0.9}, "slices": SLICES,
             "importance": {"importance": []}, "validation": {"passed": True},
             "parity": {"passed": True}}
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(data))
    (tmp_path / "use.md").write_text("For churn triage.\n")
    # a whole params.yaml: the loader checks every section, not only the gates the card reads
    (tmp_path / "params.yaml").write_text(
        "data: {source: sklearn:breast_cancer, target: diagnosis}\n"
        "model: {estimator: sklearn.linear_model.LogisticRegression}\n"
        "gates: {floors: {accuracy: 0.5}}\n")
    values = {**{k: str(v) for k, v in paths.items()}, "intended_use": str(tmp_path / "use.md"),
              "template": str(PROJECT / "reports" / "model_card.md.j2"),
              "out": str(tmp_path / "card.md"), "params": str(tmp_path / "params.yaml"),
              "version": None, "image": None, "model_tests": None, "fairness": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_main_writes_the_card(tmp_path):
    model_card.main(card_args(tmp_path))
    assert "For churn triage." in (tmp_path / "card.md").read_text()


def test_main_empty_intended_use_is_an_error_and_writes_nothing(tmp_path):
    args = card_args(tmp_path)
    (tmp_path / "use.md").write_text("<!-- fill me in -->\n")
    with pytest.raises(UserError, match="^--intended-use: .* is empty"):
        model_card.main(args)
    assert not (tmp_path / "card.md").exists()


def test_main_missing_result_names_the_flag(tmp_path):
    with pytest.raises(UserError, match="^--slices: .*nope.json not found"):
        model_card.main(card_args(tmp_path, slices=str(tmp_path / "nope.json")))


FAIRNESS = {"task": "binary", "positive_class": "yes", "min_group_size": 30, "confidence": 0.95,
            "columns": {"sex": {"judged_groups": 1, "gaps": {"equalized_odds_difference": None},
                                "groups": [
                {"group": "f", "n": 40, "too_small": False,
                 "selection_rate": {"value": 0.5, "n": 40, "ci": [0.35, 0.65]},
                 "true_positive_rate": {"value": 0.8, "n": 20, "ci": [0.58, 0.92]},
                 "false_positive_rate": {"value": 0.2, "n": 20, "ci": [0.08, 0.42]}},
                {"group": "x", "n": 3, "too_small": True,
                 "selection_rate": {"value": 1.0, "n": 3, "ci": [0.44, 1.0]},
                 "true_positive_rate": {"value": 1.0, "n": 3, "ci": [0.44, 1.0]},
                 "false_positive_rate": {"value": None, "n": 0, "ci": None}}]}}}


def test_render_shows_fairness_groups_with_intervals_and_marks_small_groups():
    text = model_card.render(TEMPLATE, inputs(fairness=FAIRNESS))
    assert "| f | 40 | 0.500 [0.350, 0.650] | 0.800 [0.580, 0.920] | 0.200 [0.080, 0.420] |" in text
    assert "| x (too small) | 3 |" in text
    assert "judging the decision `yes`" in text


def test_render_says_when_no_protected_column_is_declared():
    text = model_card.render(TEMPLATE, inputs())
    assert "No protected columns declared" in text
