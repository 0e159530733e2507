"""The baseline from git: the base branch's results at the merge-base, via `git show`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.config import parse_yaml
from gitops_ml.errors import UserError
from gitops_ml.report.commits import git, show
from gitops_ml.report.render import Results


@dataclass(frozen=True)
class ResultPaths:
    """Where the pipeline's git-tracked results live (the CLI passes them, as dvc.yaml declares)."""

    metrics: str
    params: str
    plots: str
    slices: str
    importance: str
    data_validation: str
    onnx_parity: str
    lock: str
    model_tests: str = "reports/model_tests.json"
    fairness: str = "reports/fairness.json"


def _json(text: str | None, where: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: not valid JSON: {exc}") from exc


def _plots(files: dict[str, str], where: str) -> dict[str, list[dict[str, Any]]]:
    plots: dict[str, list[dict[str, Any]]] = {}
    for name, text in sorted(files.items()):
        data = _json(text, f"{where}/{name}")
        if isinstance(data, dict):
            plots.update({k: v for k, v in data.items() if isinstance(v, list)})
    return plots


def _importance(data: Any) -> list[dict[str, Any]]:
    rows = data.get("importance") if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _params(text: str | None, where: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = parse_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not valid YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


def results_at(sha: str, paths: ResultPaths, cwd: Path) -> Results:
    """The results committed at `sha` (no DVC remote needed: they are tracked by git)."""
    listing = git(["ls-tree", "--name-only", f"{sha}:{paths.plots}"], cwd)
    names = [n for n in listing.stdout.split() if n.endswith(".json")] \
        if listing.returncode == 0 else []
    where = f"{sha[:7]}:"
    return Results(
        metrics=_json(show(sha, paths.metrics, cwd), where + paths.metrics),
        params=_params(show(sha, paths.params, cwd), where + paths.params),
        plots=_plots({n: show(sha, f"{paths.plots}/{n}", cwd) or "{}" for n in names},
                     where + paths.plots),
        slices=_json(show(sha, paths.slices, cwd), where + paths.slices),
        importance=_importance(_json(show(sha, paths.importance, cwd), where + paths.importance)),
        data_validation=_json(show(sha, paths.data_validation, cwd),
                              where + paths.data_validation),
        onnx_parity=_json(show(sha, paths.onnx_parity, cwd), where + paths.onnx_parity),
        model_tests=_json(show(sha, paths.model_tests, cwd), where + paths.model_tests),
        fairness=_json(show(sha, paths.fairness, cwd), where + paths.fairness),
    )


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def results_in_worktree(paths: ResultPaths, root: Path) -> Results:
    """The results in the working tree, as the pipeline just left them."""
    plots_dir = root / paths.plots
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(plots_dir.glob("*.json"))} \
        if plots_dir.is_dir() else {}
    return Results(
        metrics=_json(_read(root / paths.metrics), paths.metrics),
        params=_params(_read(root / paths.params), paths.params),
        plots=_plots(files, paths.plots),
        slices=_json(_read(root / paths.slices), paths.slices),
        importance=_importance(_json(_read(root / paths.importance), paths.importance)),
        data_validation=_json(_read(root / paths.data_validation), paths.data_validation),
        onnx_parity=_json(_read(root / paths.onnx_parity), paths.onnx_parity),
        model_tests=_json(_read(root / paths.model_tests), paths.model_tests),
        fairness=_json(_read(root / paths.fairness), paths.fairness),
    )


def lock_inputs(text: str | None) -> dict[str, Any]:
    """What each stage was run on, per dvc.lock: its command, dependency hashes and params."""
    try:
        lock = parse_yaml(text or "") or {}
    except yaml.YAMLError:
        return {}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict):
        return {}
    return {
        name: {
            "cmd": stage.get("cmd"),
            "deps": sorted((d.get("path"), d.get("md5") or d.get("hash")) for d in
                           stage.get("deps") or [] if isinstance(d, dict)),
            "params": stage.get("params"),
        }
        for name, stage in stages.items() if isinstance(stage, dict)
    }
