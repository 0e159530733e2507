"""Paths as dvc.yaml declares them, so pipelines/ and the workflows never restate one.

    python -m pipelines.dvc_paths evaluate metrics          # prints reports/metrics.json
    python -m pipelines.dvc_paths --output paths image      # what the image and smoke test need,
                                                            # as a multi-line $GITHUB_OUTPUT

Each stage's command names its inputs and outputs as `--flag path` (`gitops-ml evaluate ...
--metrics reports/metrics.json`); a path counts only when the stage also declares it under
`deps`, `outs`, `metrics` or `plots`, so the command and DVC's graph agree on it. Asking for a
stage or flag dvc.yaml does not have is a one-line error naming both (exit 2).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gitops_ml.errors import UserError

DVC_YAML = Path("dvc.yaml")
# What main.yml's reproduce job hands to the image build and the smoke test: the served model
# and its metadata, the scikit-learn pipeline and the test rows the smoke test compares with.
IMAGE_INPUTS = (("export", "--onnx"), ("export", "--meta"), ("train", "--out"),
                ("split", "--test"))


def _declared(stage: dict[str, Any]) -> set[str]:
    """Every path a stage lists under deps, outs, metrics and plots (with or without options)."""
    paths = set()
    for key in ("deps", "outs", "metrics", "plots"):
        for item in stage.get(key) or []:
            paths.update(item if isinstance(item, dict) else [item])
    return {str(p) for p in paths}


def stage_paths(text: str, where: str = "dvc.yaml") -> dict[str, dict[str, str]]:
    """{stage: {flag: path}} for every `--flag path` in a stage's cmd that the stage declares."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{where}: not valid YAML ({exc})") from None
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict):
        raise UserError(f"{where}: stages: expected a mapping of stages")
    out: dict[str, dict[str, str]] = {}
    for name, stage in stages.items():
        if not isinstance(stage, dict) or not isinstance(stage.get("cmd"), str):
            raise UserError(f"{where}: stages.{name}.cmd: expected one command string")
        argv, declared = shlex.split(stage["cmd"]), _declared(stage)
        out[name] = {flag: value for flag, value in zip(argv, argv[1:], strict=False)
                     if flag.startswith("--") and value in declared}
    return out


def load(path: Path = DVC_YAML) -> dict[str, dict[str, str]]:
    try:
        return stage_paths(path.read_text(), str(path))
    except FileNotFoundError:
        raise UserError(f"{path}: not found (the pipeline's paths are declared there)") from None


def path(stages: dict[str, dict[str, str]], stage: str, flag: str,
         where: str = "dvc.yaml") -> str:
    """The path `stage` passes as `flag`; UserError naming both when dvc.yaml has no such path."""
    if stage not in stages:
        raise UserError(f"{where}: no stage {stage!r} (stages: {', '.join(stages)})")
    if flag not in stages[stage]:
        raise UserError(f"{where}: stages.{stage}.cmd passes no declared path as {flag}")
    return stages[stage][flag]


def fill(args: argparse.Namespace, sources: dict[str, tuple[str, str]], dvc_yaml: Path) -> None:
    """Set each `args.<dest>` left as None to the path dvc.yaml declares for (stage, flag)."""
    missing = [dest for dest in sources if getattr(args, dest) is None]
    if not missing:
        return
    stages = load(dvc_yaml)
    for dest in missing:
        setattr(args, dest, path(stages, *sources[dest], where=str(dvc_yaml)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.dvc_paths", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dvc-yaml", type=Path, default=DVC_YAML)
    parser.add_argument("--output", metavar="NAME",
                        help="also append the paths to $GITHUB_OUTPUT as multi-line NAME")
    parser.add_argument("stage", help="a stage of dvc.yaml, or `image`: the image's inputs")
    parser.add_argument("flag", nargs="?", help="the flag's name without dashes, e.g. metrics")
    args = parser.parse_args(argv)
    try:
        stages = load(args.dvc_yaml)
        if args.stage == "image" and args.flag is None:
            found = [path(stages, s, f, str(args.dvc_yaml)) for s, f in IMAGE_INPUTS]
        elif args.flag:
            found = [path(stages, args.stage, f"--{args.flag}", where=str(args.dvc_yaml))]
        else:
            raise UserError(f"{args.stage}: name a flag, e.g. `evaluate metrics`")
    except UserError as exc:
        print(f"dvc_paths: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(found))
    github_output = os.environ.get("GITHUB_OUTPUT")
    if args.output and github_output:
        with open(github_output, "a", encoding="utf-8") as fh:
            fh.write(f"{args.output}<<EOF\n" + "".join(f"{p}\n" for p in found) + "EOF\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
