"""The PR workflows' static checks: zizmor, GitHub's workflow schema, pinned actions.

What the workflows do is run end to end on a real Actions engine against a local GitHub in
tests/workflows/ (marker `workflows`): the same-repository, failing-gate, fork and hostile-fork
scenarios replaced the stub-driven emulation of their `run:` steps that used to live here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
WORKFLOWS = PROJECT / ".github" / "workflows"


def test_workflows_pass_zizmor_and_github_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    zizmor = subprocess.run([Path(sys.executable).parent / "zizmor", "--offline",
                             "--persona=pedantic", *files],
                            capture_output=True, text=True, check=False)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    schema = subprocess.run([Path(sys.executable).parent / "check-jsonschema", "--builtin-schema",
                             "vendor.github-workflows", *files],
                            capture_output=True, text=True, check=False)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_workflows_pin_every_action_to_a_commit() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            if line.strip().startswith(("- uses:", "uses:")):
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{path.name}: {line}"


def _imports(module: str) -> set[str]:
    """Top-level modules `pipelines/<module>.py` imports, following its pipelines imports."""
    import ast

    seen, todo, found = set(), [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse((PROJECT / "pipelines" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names]
                                         if node.module == "pipelines" else [])
            else:
                continue
            for full in names:
                if full.startswith("pipelines."):
                    todo.append(full.split(".")[1])
                elif full != "pipelines":
                    found.add(full.split(".")[0])
    return found


def test_modules_the_workflows_run_with_bare_python3_import_only_the_standard_library() -> None:
    # `python3 -m pipelines.X` runs on the runner's system Python, where neither the project
    # nor PyYAML is installed: such a module (and what it imports from pipelines/) must be stdlib
    modules = set()
    for path in WORKFLOWS.glob("*.yml"):
        modules.update(re.findall(r"(?<!uv run )python3 -m pipelines\.(\w+)", path.read_text()))
    assert modules
    for module in sorted(modules):
        extra = _imports(module) - set(sys.stdlib_module_names)
        assert not extra, f"pipelines/{module}.py imports {sorted(extra)}"
