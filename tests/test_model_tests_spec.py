"""model_tests.yaml is validated strictly: every mistake is one line naming where it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_ml.errors import UserError
from gitops_ml.model_tests_spec import Directional, Invariance, MinimumFunctionality, load, parse

PROJECT = Path(__file__).resolve().parents[1]
INV = "{name: t, kind: invariance, column: x, values: [a, b]}"


@pytest.mark.parametrize(("text", "message"), [
    ("tests: [{name: t, kind: invariance, column: x, values: [a], colum: y}]",
     "tests[0].colum: unknown key"),
    ("tests: [{name: t, kind: minimum_functionality, examples: "
     "[{name: e, features: {x: 1}, lable: a}]}]", "tests[0].examples[0].lable: unknown key"),
    ("test: []", "test: unknown key"),
    ("tests: [{name: t, kind: invarance, column: x}]",
     "tests[0]: unknown kind 'invarance' (known: invariance, directional, "
     "minimum_functionality)"),
    ("tests: [{name: t, column: x}]", "tests[0]: kind: required but missing"),
    ("tests: [{kind: invariance, column: x, values: [a]}]", "tests[0].name: required but missing"),
    ("tests: [{name: t, kind: invariance, column: x}]",
     "tests[0]: give exactly one of values or range"),
    ("tests: [{name: t, kind: invariance, column: x, range: [2, 1]}]",
     "tests[0]: range must be [low, high] with low <= high"),
    ("tests: [{name: t, kind: directional, column: x, change: 0, expect: increase}]",
     "tests[0]: change must not be 0"),
    ("tests: [{name: t, kind: minimum_functionality, examples: [{name: e, features: {x: 1}}]}]",
     "tests[0].examples[0]: give exactly one of label (classification) or range (regression)"),
    (f"tests: [{INV}, {INV}]", "test name 't' is used twice"),
    ("[1, 2]", "must be a mapping with a `tests:` list, got list"),
])
def test_parse_names_the_mistake_in_one_line(text, message):
    with pytest.raises(UserError) as info:
        parse(yaml.safe_load(text), "mt.yaml")
    assert str(info.value).startswith(f"mt.yaml: {message}")
    assert "\n" not in str(info.value)


def test_parse_reads_each_kind_with_its_defaults():
    spec = parse(yaml.safe_load(f"""
tests:
  - {INV}
  - {{name: d, kind: directional, column: x, change: -1.5, expect: decrease, score_of: 1}}
  - {{name: m, kind: minimum_functionality, examples: [{{name: e, features: {{x: 1}},
      range: [0, 2]}}]}}
"""))
    inv, direction, minimum = spec.tests
    assert isinstance(inv, Invariance) and inv.tolerance == 0.05 and inv.values == ["a", "b"]
    assert isinstance(direction, Directional) and direction.score_of == "1"
    assert direction.tolerance == 1e-6 and direction.max_failure_rate == 0.02
    assert inv.max_failure_rate == 0.02
    assert isinstance(minimum, MinimumFunctionality) and minimum.examples[0].range == (0.0, 2.0)


def test_an_empty_file_has_no_tests(tmp_path):
    (tmp_path / "mt.yaml").write_text("# nothing yet\n")
    assert load(tmp_path / "mt.yaml").tests == []


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="--tests: file not found: .*nope.yaml"):
        load(tmp_path / "nope.yaml")


def test_the_committed_file_is_valid():
    # every test listed is read (the template's four, or a fork's own after init's starter)
    listed = yaml.safe_load((PROJECT / "model_tests.yaml").read_text())["tests"] or []
    assert len(load(PROJECT / "model_tests.yaml").tests) == len(listed)
