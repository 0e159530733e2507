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
from gitops_ml.init.yaml_edit import set_value

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
        if self.contract is not None:
            dump(self.contract, contract_path)
        for path in self.deletes:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def gates_for(task: str, slice_column: str, target_std: float) -> dict[str, Any]:
    """Gates every dataset of `task` can meet: no floors yet, regressions against main."""
    if task == "regression":
        regression = {"rmse": {"rel": 0.05}, "r2": {"abs": 0.02}}
        gap = {"metric": "mae", "column": slice_column, "max": float(f"{0.5 * target_std:.3g}")}
    else:
        regression = {"accuracy": {"abs": 0.02}, "f1_macro": {"abs": 0.02},
                      "log_loss": {"rel": 0.10}}
        if task == "binary":
            regression = {"roc_auc": {"abs": 0.01}, **regression}
        gap = {"metric": "accuracy", "column": slice_column, "max": 0.15}
    return {"floors": {}, "max_regression": regression, "max_slice_gap": gap}


def slice_column(contract: Any) -> str:
    """The column reports slice by: the first categorical feature, else the first feature."""
    return (contract.categorical or contract.feature_names)[0]


def _rename_model(text: str, old: str, new: str, where: str) -> str:
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


def make_plan(answers: Answers, paths: Paths, *, root: Path) -> Plan:
    """Validate every answer against the data and the files, and compute the changes."""
    from gitops_ml import contract as contract_mod
    from gitops_ml.sources import ingest
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
    data_cfg = config.DataConfig(answers.source, answers.target, current.synthetic)
    df = ingest(data_cfg, config.seed(params), root=root)
    resolved = detect_task(df[answers.target], answers.task)
    data_changed = (answers.source, answers.target, answers.task) != (
        current.source, current.target, current_task)

    plan = Plan()

    def write(path: Path, text: str) -> None:
        if not path.exists() or path.read_text() != text:
            plan.writes[path] = text

    write(paths.identity, identity.dumps(new_id))
    dvc_text = paths.dvc_yaml.read_text()
    old_model = model_name_in(dvc_text, str(paths.dvc_yaml))
    write(paths.dvc_yaml, _rename_model(dvc_text, old_model, new_id.model, str(paths.dvc_yaml)))
    header = _render("readme_header.md.j2", identity=new_id)
    write(paths.readme, _readme(paths.readme.read_text(), header, str(paths.readme)))

    renamed = old_id is None or (old_id.name, old_id.model, old_id.description) != (
        new_id.name, new_id.model, new_id.description)
    if data_changed or renamed or not paths.intended_use.exists():
        write(paths.intended_use, _render(
            "intended_use.md.j2", identity=new_id, target=answers.target, task=resolved,
            features=df.shape[1] - 1, rows=len(df), source=f"`{answers.source}`"))

    if data_changed:
        contract = contract_mod.infer(df, answers.target, task=answers.task)
        plan.contract = contract
        where = str(paths.params)
        column = slice_column(contract)
        std = float(df[answers.target].std()) if resolved == "regression" else 0.0
        text = params_text
        text = set_value(text, ("data", "source"), answers.source, where=where)
        text = set_value(text, ("data", "target"), answers.target, where=where)
        text = set_value(text, ("model", "task"), answers.task, where=where)
        text = set_value(text, ("evaluate", "slices"), [column], where=where)
        for key, value in gates_for(resolved, column, std).items():
            text = set_value(text, ("gates", key), value, where=where,
                             block=key == "max_regression")
        write(paths.params, text)
        plan.deletes = [root / p for p in git_tracked_results(dvc_text) if (root / p).exists()]
        plan.notes.append(f"data: {answers.source} -> {answers.target} ({resolved}), "
                          f"{len(df)} rows, {df.shape[1] - 1} features; contract inferred; "
                          f"slices and gates set for {resolved}; {len(plan.deletes)} stale "
                          "result(s) removed (the next `dvc repro` writes them)")
    return plan
