"""What `gitops-ml init` changes, computed and validated in full before any file is written."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_ml import config, identity
from gitops_ml.errors import UserError
from gitops_ml.init.yaml_edit import flow, set_value

HEADER_START = "<!-- project-header:"
HEADER_END = "<!-- /project-header -->"
_EXPORT_NAME = re.compile(r"(--name\s+)(\S+)")


@dataclass(frozen=True)
class Answers:
    """Everything init asks; `source` is sklearn:<name>, `synthetic` or a CSV/Parquet path."""

    name: str
    model: str
    description: str
    source: str
    target: str
    task: str = "auto"
    owner: str = ""
    image: str = ""
    python: str = "3.11"


@dataclass(frozen=True)
class Paths:
    """The files init reads and writes (all relative paths are taken from the CLI)."""

    identity: Path
    params: Path
    contract: Path
    dvc_yaml: Path
    readme: Path
    intended_use: Path


@dataclass
class Plan:
    """New contents per file (only files that change), files to delete, and a summary."""

    writes: dict[Path, str] = field(default_factory=dict)
    deletes: list[Path] = field(default_factory=list)
    contract: Any = None           # a Contract to write, when the data changed
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.writes and not self.deletes and self.contract is None

    def apply(self, contract_path: Path) -> None:
        """Write every change (each file atomically), then delete the stale reports."""
        from gitops_ml.contract import dump
        from gitops_ml.io import atomic_path

        for path, text in self.writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                tmp.write_text(text)
                if path.exists():       # .ci/run stays executable
                    tmp.chmod(path.stat().st_mode)
        if self.contract is not None:
            dump(self.contract, contract_path)
        for path in self.deletes:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def gates_for(task: str, slice_column: str, target_std: float) -> dict[str, Any]:
    """Gates every dataset of `task` can meet: regressions against main (floors and the flip
    rate are measured on the first model: `_calibrated_gates`)."""
    if task == "regression":
        regression = {"rmse": {"rel": 0.05}, "r2": {"abs": 0.02}}
        gap = {"metric": "mae", "column": slice_column, "max": float(f"{0.5 * target_std:.3g}")}
    else:
        # log loss in nats, not relative: near-separable data has a log loss of a few
        # hundredths, where any refit moves it by tens of percent (a 69-row penguins test set:
        # 0.033 -> 0.047 for C 1.0 -> 0.5, accuracy unchanged)
        regression = {"accuracy": {"abs": 0.02}, "f1_macro": {"abs": 0.02},
                      "log_loss": {"abs": 0.03}}
        if task == "binary":
            regression = {"roc_auc": {"abs": 0.01}, **regression}
        gap = {"metric": "accuracy", "column": slice_column, "max": 0.15}
    return {"floors": {}, "max_regression": regression, "max_slice_gap": gap}


# The template's own machinery: what proves the template, not a team's model. Init leaves it out
# of a fork (deletes it) whenever it makes the project a different one. Workflow files are kept
# by `--from-github`: the default workflow token may not change .github/workflows/
# (https://docs.github.com/en/actions/security-for-github-actions/security-guides/automatic-token-authentication#permissions-for-the-github_token:
# no `workflows` permission), so the team deletes those two, as init's note says.
TEMPLATE_ONLY = (
    "tests/template",                       # proves that forks work (runs init, like this)
    "tests/workflows",                      # the act harness for the template's workflows
    "tests/stock_python",                   # the README's first command on stock Debian Python
    "tests/test_readme_first_command.py",
    ".github/workflows/template.yml",       # runs tests/template
    ".github/workflows/template-init.yml",  # the one-shot `init --from-github`
)
# .ci/run's lines between these markers run the template's fork proof; init removes them.
CI_TEMPLATE_START = "# --- template-only:"
CI_TEMPLATE_END = "# --- end template-only"


def template_machinery(root: Path, *, keep_workflows: bool) -> tuple[list[Path], list[str]]:
    """The template-only paths present under `root` to delete, and a note for those kept."""
    present = [p for p in TEMPLATE_ONLY if (root / p).exists()]
    kept = [p for p in present if keep_workflows and p.startswith(".github/workflows/")]
    notes = [f"template: kept {', '.join(kept)} (the workflow token may not delete workflow "
             "files); delete them in your next commit"] if kept else []
    return [root / p for p in present if p not in kept], notes


def without_template_section(text: str) -> str:
    """.ci/run without its template-only section (the text as is when there is none)."""
    start, end = text.find(CI_TEMPLATE_START), text.find(CI_TEMPLATE_END)
    if start < 0 or end < start:
        return text
    end = text.find("\n", end) + 1 or len(text)
    return text[:start] + text[end:]


# A slice column has few enough levels that each holds a fair share of the test set.
MAX_SLICE_LEVELS = 10
# The estimator init picks when the current one does not fit the task (a team's own choice that
# does fit is kept): both are fast, need no tuning and convert to ONNX.
ESTIMATORS = {
    "classification": ("sklearn.linear_model.LogisticRegression", {"C": 1.0, "max_iter": 2000}),
    "regression": ("sklearn.linear_model.Ridge", {"alpha": 1.0}),
}


def slice_column(contract: Any) -> str:
    """The column reports slice by: a low-cardinality categorical feature, else the first numeric
    one (sliced in quantile bins). Excluded columns (IDs, free text) are not features."""
    for spec in contract.features:
        if not spec.is_numeric and 2 <= len(spec.categories or ()) <= MAX_SLICE_LEVELS:
            return spec.name
    return (contract.numeric or contract.feature_names)[0]


def positive_class(y: Any) -> Any:
    """The binary class metrics such as precision and recall are about: the rarer one (the
    event a model is built to find: a default, a churn), the later in sort order on a tie."""
    counts = y.dropna().value_counts()
    ordered = sorted(counts.index, key=lambda label: (-counts[label], str(label)))
    label = ordered[-1]
    return label.item() if hasattr(label, "item") else label


def estimator_for(task: str, current: config.ModelConfig) -> tuple[str, dict[str, Any]] | None:
    """A replacement estimator and params when `current` cannot learn `task`, else None."""
    from sklearn.base import is_classifier, is_regressor

    from gitops_ml.modeling import resolve_estimator

    try:
        estimator = resolve_estimator(current.estimator, current.params)
    except UserError:
        estimator = None
    fits = (is_regressor(estimator) if task == "regression" else is_classifier(estimator))
    if estimator is not None and fits:
        return None
    return ESTIMATORS["regression" if task == "regression" else "classification"]


def rename_model(text: str, old: str, new: str, where: str) -> str:
    """dvc.yaml with the artifact `old` renamed and `export --name old` set to `new`."""
    doc = yaml.safe_load(text) or {}
    if old == new:
        return text
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "artifacts:"), None)
    if start is None:
        raise UserError(f"{where}: no top-level `artifacts:` declaring the model")
    key = re.compile(rf"^(\s+){re.escape(old)}:\s*$")
    hit = next((i for i in range(start + 1, len(lines)) if key.match(lines[i])), None)
    if hit is None:
        raise UserError(f"{where}: artifacts.{old}: not found")
    lines[hit] = key.sub(rf"\g<1>{new}:", lines[hit])
    text = "\n".join(lines)
    cmd = (doc.get("stages") or {}).get("export", {}).get("cmd", "")
    if f"--name {old}" in " ".join(str(cmd).split()):
        text = re.sub(rf"(--name\s+){re.escape(old)}(?=\s)", rf"\g<1>{new}", text)
    new_doc = yaml.safe_load(text)
    if list(new_doc["artifacts"]) != [new] or f"--name {new}" not in new_doc["stages"]["export"][
            "cmd"]:
        raise UserError(f"{where}: could not rename the model {old!r} to {new!r}; "
                        "rename `artifacts:` and `export --name` by hand")
    return text


def model_name_in(dvc_text: str, where: str) -> str:
    """The one artifact dvc.yaml declares (the registered model)."""
    artifacts = (yaml.safe_load(dvc_text) or {}).get("artifacts") or {}
    if len(artifacts) != 1:
        raise UserError(f"{where}: expected exactly one artifact under `artifacts:`, "
                        f"found {len(artifacts)}")
    return str(next(iter(artifacts)))


def git_tracked_results(dvc_text: str) -> list[str]:
    """Outputs dvc.yaml keeps in git (`cache: false`): the results that describe the data."""
    out = []
    for stage in ((yaml.safe_load(dvc_text) or {}).get("stages") or {}).values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                if isinstance(entry, dict):
                    for path, opts in entry.items():
                        if isinstance(opts, dict) and opts.get("cache") is False:
                            out.append(path)
    return out


def _render(name: str, **context: Any) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("gitops_ml.init", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template(name).render(**context)


def _readme(text: str, header: str, where: str) -> str:
    start, end = text.find(HEADER_START), text.find(HEADER_END)
    if start < 0 or end < start:
        raise UserError(f"{where}: the header markers `{HEADER_START} ... -->` and "
                        f"`{HEADER_END}` are missing; put them around the title and intro")
    open_end = text.index("-->", start) + len("-->")
    return text[:open_end] + "\n" + header + text[end:]


def make_plan(answers: Answers, paths: Paths, *, root: Path,
              keep_workflows: bool = False) -> Plan:
    """Validate every answer against the data and the files, and compute the changes."""
    from gitops_ml import contract as contract_mod
    from gitops_ml.sources import ingest, missing_tokens
    from gitops_ml.task import detect_task

    new_id = identity.Identity(name=answers.name, model=answers.model,
                               description=" ".join(answers.description.split()),
                               owner=answers.owner, image=answers.image, python=answers.python)
    if answers.task not in config.TASKS:
        raise UserError(f"task: must be one of {', '.join(config.TASKS)}, got {answers.task!r}")
    for p in (paths.params, paths.dvc_yaml, paths.readme):
        if not p.is_file():
            raise UserError(f"{p}: not found (run init at the project's root)")
    old_id = identity.load(paths.identity) if paths.identity.exists() else None

    params_text = paths.params.read_text()
    params = config.read_params(paths.params)
    current = config.DataConfig.from_params(params)
    current_task = config.ModelConfig.from_params(params).task
    if "/" in answers.source or "." in answers.source:
        source_path = root / answers.source
        if not source_path.is_file():
            raise UserError(f"data: file not found: {answers.source} (a CSV or Parquet path "
                            "relative to the project root)")
    # read as the pipeline will: the project's own `data.na_values`, not the default list
    data_cfg = config.DataConfig(answers.source, answers.target, current.synthetic,
                                 na_values=current.na_values)
    df = ingest(data_cfg, config.seed(params), root=root)
    resolved = detect_task(df[answers.target], answers.task)
    data_changed = (answers.source, answers.target, answers.task) != (
        current.source, current.target, current_task)

    contract = contract_mod.infer(df, answers.target, task=answers.task,
                                  exclude=current.exclude,
                                  missing_tokens=missing_tokens(data_cfg, root))
    plan = Plan()

    def write(path: Path, text: str) -> None:
        if not path.exists() or path.read_text() != text:
            plan.writes[path] = text

    write(paths.identity, identity.dumps(new_id))
    dvc_text = paths.dvc_yaml.read_text()
    old_model = model_name_in(dvc_text, str(paths.dvc_yaml))
    write(paths.dvc_yaml, rename_model(dvc_text, old_model, new_id.model, str(paths.dvc_yaml)))
    header = _render("readme_header.md.j2", identity=new_id)
    write(paths.readme, _readme(paths.readme.read_text(), header, str(paths.readme)))

    renamed = old_id is None or (old_id.name, old_id.model, old_id.description) != (
        new_id.name, new_id.model, new_id.description)
    if data_changed or renamed or not paths.intended_use.exists():
        write(paths.intended_use, _render(
            "intended_use.md.j2", identity=new_id, target=answers.target, task=resolved,
            features=len(contract.features), rows=int(df[answers.target].notna().sum()),
            source=f"`{answers.source}`"))

    if data_changed:
        plan.contract = contract
        where = str(paths.params)
        column = slice_column(contract)
        std = float(df[answers.target].std()) if resolved == "regression" else 0.0
        text = params_text
        text = set_value(text, ("data", "source"), answers.source, where=where)
        text = set_value(text, ("data", "target"), answers.target, where=where)
        text = set_value(text, ("model", "task"), answers.task, where=where)
        replacement = estimator_for(resolved, config.ModelConfig.from_params(params))
        if replacement is not None:
            text = set_value(text, ("model", "estimator"), replacement[0], where=where)
            text = set_value(text, ("model", "params"), replacement[1], where=where, block=True)
            plan.notes.append(f"model: {replacement[0]} {replacement[1]} (the previous "
                              f"estimator does not fit a {resolved} task)")
        text = set_value(text, ("evaluate", "slices"), [column], where=where)
        text, positive_note = _set_positive_class(text, resolved, df[answers.target], where)
        for key, value in gates_for(resolved, column, std).items():
            text = set_value(text, ("gates", key), value, where=where,
                             block=key == "max_regression")
        # champion vs challenger compares a metric of the task, its lift in the target's units
        text = set_value(text, ("experiment", "metric"),
                         "mae" if resolved == "regression" else "accuracy", where=where)
        text = set_value(text, ("experiment", "min_lift"),
                         float(f"{0.02 * std:.3g}") if resolved == "regression" else 0.02,
                         where=where)
        text, gate_note = _calibrated_gates(text, df, contract, resolved, where)
        plan.notes.append(gate_note)
        write(paths.params, text)
        plan.deletes = [root / p for p in git_tracked_results(dvc_text) if (root / p).exists()]
        unlabelled = int(df[answers.target].isna().sum())
        plan.notes.append(f"data: {answers.source} -> {answers.target} ({resolved}), "
                          f"{len(df) - unlabelled} labelled rows"
                          + (f" ({unlabelled} unlabelled, dropped)" if unlabelled else "")
                          + f", {len(contract.features)} features; contract inferred; "
                          f"{len(plan.deletes)} stale result(s) removed (the next `dvc repro` "
                          "writes them)")
        plan.notes.extend(f"contract: excluded {name!r}: {reason} (keep it: move it under "
                          "`features:` in contract.yaml)" if reason != "data.exclude" else
                          f"contract: excluded {name!r} (data.exclude)"
                          for name, reason in contract.excluded)
        # a missing-value token that may be a level (a class named `None`, `NA` for Namibia)
        plan.notes.extend(f"data: check {level.note}" for level in contract.missing_levels)
        plan.notes.append(f"evaluate: slices by {column!r}; gates: max_slice_gap on {column!r}, "
                          f"max_regression set for {resolved} metrics")
        if positive_note:
            plan.notes.append(positive_note)
    if not plan.empty:          # a new project: the template's proofs are not its concern
        machinery, notes = template_machinery(root, keep_workflows=keep_workflows)
        plan.deletes.extend(machinery)
        plan.notes.extend(notes)
        if machinery:
            plan.notes.append("template: removed its own machinery (" + ", ".join(
                str(p.relative_to(root)) for p in machinery) + ")")
        ci_run = paths.params.parent / ".ci" / "run"
        if ci_run.is_file():
            write(ci_run, without_template_section(ci_run.read_text()))
    return plan


def _calibrated_gates(text: str, df: Any, contract: Any, task: str,
                      where: str) -> tuple[str, str]:
    """params.yaml with floors and max_flip_rate measured on the first model, each commented."""
    from gitops_ml.init import calibrate

    params = yaml.safe_load(text)
    first = calibrate.measure(df, contract, params, task)
    floors, flip, comment = calibrate.gates(first, task)
    text = set_value(text, ("gates", "floors"), floors, where=where)
    limits = calibrate.regression_limits(first, params["gates"]["max_regression"])
    if limits != params["gates"]["max_regression"]:
        text = set_value(text, ("gates", "max_regression"), limits, where=where, block=True)
        comment += "; max_regression widened to one standard error on this test set"
    if flip is not None:
        text = set_value(text, ("gates", "max_flip_rate"), flip, where=where)
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(
        "# init: the first model")]             # a comment from an earlier init
    at = next(i for i, line in enumerate(lines) if line.startswith(" ")
              and line.lstrip().startswith("floors:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at, f"{indent}# {comment}")
    return "\n".join(lines), f"gates: {comment}"


def _set_positive_class(text: str, task: str, y: Any, where: str) -> tuple[str, str]:
    """params.yaml with `evaluate.positive_class` set for a binary task (null otherwise)."""
    value = positive_class(y) if task == "binary" else None
    note = (f"evaluate.positive_class: {flow(value)} (the rarer class; precision and recall "
            "are about it)" if value is not None else "")
    try:
        text = set_value(text, ("evaluate", "positive_class"), value, where=where)
    except UserError:  # a params.yaml from before the key existed: say what to add
        return text, note + (f"; add it to {where}" if note else "")
    return text, note
