"""dvc.yaml tells the truth about code: each stage depends on every project module it runs.

A stage's code is what its `cmd` reaches: `gitops-ml <command>` starts `gitops_ml.cli` (and what
building the parser imports), which imports the command's module; from there every `gitops_ml`
import is followed, those inside functions too (they run when the stage does), and every package
`__init__.py` on the way (Python runs it on import). Missing a module means an edit to it leaves
`dvc status` clean and the committed results stale (issue 11).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "gitops_ml"

# `gitops-ml <command>` -> the module whose `main` runs it (see `build_parser` in cli.py).
COMMAND_MODULES = {
    "model-card": "gitops_ml.model_card",
}


def module_file(name: str) -> Path | None:
    """The source file of a `gitops_ml` module or package, or None for anything else."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, name: str) -> set[str]:
    """The `gitops_ml` modules a file imports anywhere in it (module level or in functions)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from gitops_ml import config`: `config` is a module, not a name in __init__
            found.update(f"{module}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m)}


def with_packages(name: str) -> set[str]:
    """A module and every package above it (importing `a.b.c` runs `a` and `a.b` first)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


# cli.py's function-level imports belong to other commands (serve, predict, ...); what it imports
# for a stage is measured by `parser_modules`, so its own imports are not followed.
NOT_FOLLOWED = {"gitops_ml.cli"}


def closure(roots: set[str]) -> set[str]:
    """Every `gitops_ml` module reachable from `roots` by imports."""
    seen: set[str] = set()
    todo = [m for r in roots for m in with_packages(r)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is not None and name not in NOT_FOLLOWED:
            todo.extend(m for dep in imported_modules(path, name) for m in with_packages(dep))
    return seen


def parser_modules(command: str) -> set[str]:
    """The project modules `gitops-ml <command>` imports before it runs: cli and the parser."""
    code = ("import sys; from gitops_ml.cli import build_parser; "
            f"build_parser({command!r}); "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'gitops_ml'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return set(out.stdout.split())


def stage_command(cmd: str) -> str:
    """`gitops-ml ingest --out x` -> `ingest`."""
    words = cmd.split()
    assert words[0] == "gitops-ml", f"stage command does not start with gitops-ml: {cmd}"
    return next(w for w in words[1:] if not w.startswith("-"))


def stage_code(cmd: str) -> set[str]:
    """The source files (relative to the repo) a stage's command runs."""
    command = stage_command(cmd)
    module = COMMAND_MODULES.get(command, f"gitops_ml.stages.{command}")
    assert module_file(module), f"no module for command {command!r}"
    modules = closure(parser_modules(command) | {module})
    return {module_file(m).relative_to(ROOT).as_posix() for m in modules}


def declared_code(deps: list) -> set[str]:
    return {d for d in deps if isinstance(d, str) and d.startswith("src/")}


def code_mismatch(spec: dict) -> tuple[list[str], list[str]]:
    """(code the stage runs but does not list, code it lists but does not run)."""
    runs = stage_code(" ".join(spec["cmd"].split()))
    declared = declared_code(spec.get("deps", []))
    return sorted(runs - declared), sorted(declared - runs)


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_list_every_module_the_stage_runs(stage):
    missing, extra = code_mismatch(STAGES[stage])
    assert missing == [], f"dvc.yaml stage {stage} misses code it runs"
    assert extra == [], f"dvc.yaml stage {stage} lists code it does not run"


def test_stage_deps_check_names_a_missing_module():
    spec = dict(STAGES["ingest"])
    spec["deps"] = [d for d in spec["deps"] if d != "src/gitops_ml/io.py"] + [
        "src/gitops_ml/metrics.py"]
    assert code_mismatch(spec) == (["src/gitops_ml/io.py"], ["src/gitops_ml/metrics.py"])


def test_stage_deps_closure_follows_function_level_imports():
    # The checker itself: ingest's code reaches io.py only through imports inside functions of
    # sources.py; a closure that missed them would pass a dvc.yaml that misses io.py.
    runs = stage_code("gitops-ml ingest --out x")
    assert {"src/gitops_ml/cli.py", "src/gitops_ml/errors.py", "src/gitops_ml/__init__.py",
            "src/gitops_ml/stages/__init__.py", "src/gitops_ml/stages/ingest.py",
            "src/gitops_ml/sources.py", "src/gitops_ml/io.py",
            "src/gitops_ml/config.py"} <= runs
    assert "src/gitops_ml/init/command.py" not in runs   # only `gitops-ml init` builds it


def test_stage_deps_closure_counts_what_building_the_parser_imports():
    assert {"gitops_ml.init.command", "gitops_ml.registry.commands"} <= parser_modules("init") \
        | parser_modules("registry")
    assert parser_modules("ingest") == {"gitops_ml", "gitops_ml.cli", "gitops_ml.errors"}
