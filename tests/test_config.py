"""params.yaml -> typed config: every key is known, every value typed, errors name the key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_ml import config
from gitops_ml.errors import UserError


def _with(params: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of `params` with `value` set at the dotted key (creating mappings on the way)."""
    out = copy.deepcopy(params)
    *path, last = dotted.split(".")
    node = out
    for part in path:
        node = node.setdefault(part, {})
    node[last] = value
    return out


def _error(params: dict[str, Any]) -> str:
    with pytest.raises(UserError) as exc:
        config.parse(params)
    return str(exc.value)


def test_parse_reads_the_shipped_params_yaml(default_params):
    # the file as shipped (the template's, or what `gitops-ml init` made of it in a fork)
    cfg = config.parse(default_params)
    assert cfg.split.test_size == default_params["split"]["test_size"]
    assert cfg.model.estimator == default_params["model"]["estimator"]
    assert cfg.model.params == default_params["model"]["params"]
    assert cfg.evaluate.slices == tuple(default_params["evaluate"]["slices"])
    assert set(cfg.gates.max_regression) == set(default_params["gates"]["max_regression"])
    assert cfg.results.on_mismatch == "fail"


def test_parse_reads_the_examples_params(example_params):
    cfg = config.parse(example_params)
    assert cfg.model.estimator == "sklearn.linear_model.LogisticRegression"
    assert cfg.model.params == {"C": 1.0, "max_iter": 2000}
    assert cfg.evaluate.slices == ("mean_radius",)


def test_parse_defaults_for_every_optional_key():
    cfg = config.parse({"data": {"source": "d.csv", "target": "y"},
                        "model": {"estimator": "sklearn.svm.SVC"}})
    assert cfg.seed == 42
    assert cfg.data.exclude == ()
    assert cfg.split == config.SplitConfig(test_size=0.2)
    assert cfg.model.task == "auto" and cfg.model.params == {}
    assert cfg.evaluate.positive_class is None
    assert cfg.gates == config.GatesSection()
    assert cfg.monitor == config.MonitorConfig()


@pytest.mark.parametrize(("typo", "message"), [
    ("split.test_sise", "split.test_sise: unknown key; did you mean split.test_size?"),
    ("model.parmas", "model.parmas: unknown key; did you mean model.params?"),
    ("evaluate.slice_bin", "evaluate.slice_bin: unknown key; did you mean evaluate.slice_bins?"),
    ("evaluate.positive_clas",
     "evaluate.positive_clas: unknown key; did you mean evaluate.positive_class?"),
    ("data.targt", "data.targt: unknown key; did you mean data.target?"),
    ("data.exlude", "data.exlude: unknown key; did you mean data.exclude?"),
    ("data.synthetic.row", "data.synthetic.row: unknown key; did you mean data.synthetic.rows?"),
    ("export.max_abs_dif", "export.max_abs_dif: unknown key; did you mean export.max_abs_diff?"),
    ("monitor.alpah", "monitor.alpah: unknown key; did you mean monitor.alpha?"),
    ("results.on_mismatsh",
     "results.on_mismatsh: unknown key; did you mean results.on_mismatch?"),
    ("gates.floor", "gates.floor: unknown key; did you mean gates.floors?"),
    ("gates.max_regression.roc_auc.abss",
     "gates.max_regression.roc_auc.abss: unknown key; did you mean "
     "gates.max_regression.roc_auc.abs?"),
    ("gates.max_slice_gap.colum",
     "gates.max_slice_gap.colum: unknown key; did you mean gates.max_slice_gap.column?"),
    ("sead", "sead: unknown key; did you mean seed?"),
    ("monitr", "monitr: unknown key; did you mean monitor?"),
    ("split.zzz", "split.zzz: unknown key (known: order_by, test_size)"),
])
def test_parse_unknown_key_names_it_and_the_nearest_known_one(default_params, typo, message):
    assert _error(_with(default_params, typo, 1)) == message


@pytest.mark.parametrize(("key", "value", "message"), [
    ("split.test_size", "abc", "split.test_size: expected a number, got 'abc'"),
    ("split.test_size", 1.5, "split.test_size: must be in (0.0, 0.9], got 1.5"),
    ("seed", True, "seed: expected an integer, got True"),
    ("model.task", "ranking",
     "model.task: must be one of 'auto', 'binary', 'multiclass', 'regression', got 'ranking'"),
    ("model.params", [1, 2], "model.params: expected a mapping, got [1, 2]"),
    ("model.estimator", "SVC", "model.estimator: expected an import path such as "
     "sklearn.linear_model.LogisticRegression, got 'SVC'"),
    ("evaluate.slices", ["mean_radius", 3], "evaluate.slices[1]: expected a string, got 3"),
    ("evaluate.slice_bins", 2.5, "evaluate.slice_bins: expected an integer, got 2.5"),
    ("evaluate.positive_class", 0.5, "evaluate.positive_class: expected a class label "
     "(a string, integer or true/false), got 0.5"),
    ("data.exclude", "id", "data.exclude: expected a list, got 'id'"),
    ("data.exclude", ["diagnosis"], "data.exclude: lists the target 'diagnosis'"),
    ("data.exclude", ["mean_radius"],
     "evaluate.slices: 'mean_radius' is listed in data.exclude"),
    ("data.synthetic.classes", 1,
     "data.synthetic.classes: must be 0 (regression) or at least 2, got 1"),
    ("gates.floors.roc_auc", "high", "gates.floors.roc_auc: expected a number, got 'high'"),
    ("gates.onnx_parity", "yes", "gates.onnx_parity: expected true or false, got 'yes'"),
    ("gates.max_regression.accuracy.abs", -1,
     "gates.max_regression.accuracy.abs: must be in [0.0, inf], got -1.0"),
    ("results.on_mismatch", "ignore",
     "results.on_mismatch: must be one of 'fail', 'warn', got 'ignore'"),
    ("monitor.bins", 1, "monitor.bins: must be in [2, 100], got 1"),
    ("export", [1], "export: must be a mapping, got [1]"),
])
def test_parse_bad_value_names_the_dotted_key(example_params, key, value, message):
    assert _error(_with(example_params, key, value)) == message


def test_parse_missing_required_key_is_named():
    assert _error({"data": {"target": "y"}, "model": {"estimator": "a.B"}}) == \
        "data.source: required but missing"


def test_parse_empty_key_means_its_default(default_params):
    params = _with(default_params, "split.test_size", None)
    params["gates"] = None
    cfg = config.parse(params)
    assert cfg.split.test_size == 0.2 and cfg.gates.floors == {}


def test_parse_accepts_an_integer_where_a_number_is_expected():
    assert config.ExportConfig.from_params({"export": {"max_abs_diff": 1}}).max_abs_diff == 1.0


def test_parse_positive_class_keeps_its_yaml_type(default_params):
    for value in ("bad", 1, True):
        assert config.parse(_with(default_params, "evaluate.positive_class",
                                  value)).evaluate.positive_class is value


def test_section_loaders_check_their_own_section():
    with pytest.raises(UserError, match=r"^data\.synthetic\.classes: must be 0"):
        config.SyntheticConfig.from_params({"classes": 1})
    with pytest.raises(UserError, match=r"^model\.parmas: unknown key; did you mean"):
        config.ModelConfig.from_params({"model": {"estimator": "a.B", "parmas": {}}})


def test_config_objects_still_take_positional_fields():
    assert config.ModelConfig("a.B", {"C": 1}) == config.ModelConfig(estimator="a.B",
                                                                      params={"C": 1})


def test_read_params_checks_the_whole_file(tmp_path, default_params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(_with(default_params, "monitor.min_row", 5)))
    with pytest.raises(UserError, match=r"^monitor\.min_row: unknown key; did you mean "
                                        r"monitor\.min_rows\?$"):
        config.read_params(path)


def test_load_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  test_size: [0.2\n")
    with pytest.raises(UserError) as exc:
        config.load(path)
    assert str(exc.value).startswith(f"{path}: not valid YAML: ")
    assert "\n" not in str(exc.value)


def test_cli_typo_exits_2_with_one_line_and_no_traceback(tmp_path: Path, default_params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(_with(default_params, "split.test_sise", 0.3)))
    run = subprocess.run([sys.executable, "-m", "gitops_ml", "split", "--params", str(path),
                          "--data", str(tmp_path / "raw.parquet"),
                          "--train", str(tmp_path / "train.parquet"),
                          "--test", str(tmp_path / "test.parquet")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stderr == ("gitops-ml split: error: split.test_sise: unknown key; "
                          "did you mean split.test_size?\n")
    assert not (tmp_path / "train.parquet").exists()


def test_read_params_accepts_a_file_with_only_the_sections_its_reader_needs(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("gates: {floors: {accuracy: 0.5}}\n")
    assert config.read_params(path) == {"gates": {"floors": {"accuracy": 0.5}}}
    with pytest.raises(UserError, match=r"^data: required but missing$"):
        config.load(path)  # the stages need data: and model:
    path.write_text("gates: {floor: {accuracy: 0.5}}\n")
    with pytest.raises(UserError, match=r"^gates\.floor: unknown key; did you mean "
                                        r"gates\.floors\?$"):
        config.read_params(path)


# What `dvc exp run -S` leaves in params.yaml: ruamel.yaml (YAML 1.2) drops the quotes of a
# string it would itself read back as a string.
DVC_REWRITTEN = """\
data: {source: churn.csv, target: Churn}
model: {estimator: sklearn.linear_model.LogisticRegression, params: {C: 0.1}}
evaluate:
  positive_class: Yes
export:
  max_abs_diff: 1e-3
"""


def test_read_params_keeps_yes_a_string_as_dvc_reads_it(tmp_path):
    (tmp_path / "params.yaml").write_text(DVC_REWRITTEN)
    params = config.load(tmp_path / "params.yaml")
    assert params.evaluate.positive_class == "Yes"
    assert params.export.max_abs_diff == 0.001


@pytest.mark.parametrize("scalar", [
    "Yes", "no", "on", "OFF", "y", "true", "False", "010", "0o17", "0x1f", "0b11", "-12", "+3",
    "1_000", "1e-3", "1.0e-3", "-.5", ".inf", "-.inf", "2024-01-01", "null", "~", "1:20", "a b"])
def test_parse_yaml_reads_scalars_as_dvc_does(scalar):
    from ruamel.yaml import YAML  # what DVC reads and writes params.yaml with

    ours = config.parse_yaml(f"k: {scalar}")["k"]
    dvc = YAML(typ="safe", pure=True).load(f"k: {scalar}")["k"]
    assert (type(ours), ours) == (type(dvc), dvc)
