"""The `gitops-ml init` command: flags or prompts -> validated answers -> one plan, applied."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from gitops_ml import config, identity
from gitops_ml.errors import UserError
from gitops_ml.init import codeowners
from gitops_ml.init.model_tests import add_starter
from gitops_ml.init.plan import Answers, Paths, make_plan

QUESTIONS = (
    # (answer field, flag, prompt)
    ("name", "--name", "Project name (lowercase, digits, hyphens)"),
    ("model", "--model", "Model name (the registry tags it <model>@vX.Y.Z)"),
    ("description", "--description", "One or two sentences: what does the model do, for whom?"),
    ("source", "--data", "Data: sklearn:<breast_cancer|wine|iris|diabetes>, synthetic, or a "
                         "CSV/Parquet path in the repo"),
    ("target", "--target", "Target column (what the model predicts)"),
    ("task", "--task", "Task: auto | binary | multiclass | regression"),
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add init's flags to its subparser."""
    for field_, flag, help_ in QUESTIONS:
        parser.add_argument(flag, dest=field_, metavar="VALUE", help=help_)
    parser.add_argument("--owner", help="GitHub user or organisation (default: as is)")
    parser.add_argument("--image", help="image name, e.g. ghcr.io/acme/churn (default: derived "
                        "from the GitHub repository by the workflows)")
    parser.add_argument("--python", help="Python version of the project (default: as is)")
    parser.add_argument("--non-interactive", action="store_true",
                        help="never prompt; unanswered questions keep the current values")
    parser.add_argument("--from-github", action="store_true",
                        help="answer name, model, description and owner from the GitHub "
                        "context (GITHUB_REPOSITORY, GITHUB_REPOSITORY_OWNER, "
                        "REPOSITORY_DESCRIPTION); used by .github/workflows/template-init.yml")
    parser.add_argument("--force", action="store_true", help="run on a dirty git tree")
    for flag, default in (("identity", "project.yaml"), ("params", "params.yaml"),
                          ("contract", "contract.yaml"), ("dvc-yaml", "dvc.yaml"),
                          ("readme", "README.md"), ("intended-use", "docs/intended_use.md")):
        parser.add_argument(f"--{flag}-file", default=default, metavar="PATH",
                            help="(default: %(default)s)")
    parser.set_defaults(func=main)


def current_answers(paths: Paths) -> Answers:
    """The project's answers as they stand: what init keeps when a question is not asked."""
    params = config.read_params(paths.params)
    data = config.DataConfig.from_params(params)
    task = config.ModelConfig.from_params(params).task
    ident = identity.load(paths.identity)
    return Answers(name=ident.name, model=ident.model, description=ident.description,
                   source=data.source, target=data.target, task=task, owner=ident.owner,
                   image=ident.image, python=ident.python)


def github_answers(env: Mapping[str, str], current_name: str) -> dict[str, str] | None:
    """Name, model, description and owner of a repository created from the template.

    None when the repository is already named like the project it holds: a project initialised
    before (template-init.yml runs on every push, since the workflow token may not delete it)
    or the template itself. Nothing is renamed then.
    """
    repository = env.get("GITHUB_REPOSITORY", "")
    if "/" not in repository:
        raise UserError("--from-github: GITHUB_REPOSITORY must be <owner>/<name>, "
                        f"got {repository!r}")
    owner, repo = repository.split("/", 1)
    name = identity.slug(repo)
    if not name:
        raise UserError(f"--from-github: no valid project name in {repo!r}")
    if name == current_name:
        return None
    description = env.get("REPOSITORY_DESCRIPTION", "").strip() or (
        f"{name}: a model carried from pull request to production by DVC and GitHub Actions.")
    return {"name": name, "model": name, "description": description,
            "owner": env.get("GITHUB_REPOSITORY_OWNER", owner)}


def ask(question: str, default: str, check: Callable[[str], object],
        read: Callable[[str], str] = input, *, piped: bool = False) -> str:
    """Prompt until the answer passes `check`; an empty answer takes the default.

    `piped` answers (stdin is not a terminal) are read one line per question, in order: a bad
    one is an error rather than a new prompt (the next line answers the next question), and
    input that ends early is an error rather than silent defaults.
    """
    while True:
        try:
            answer = read(f"{question} [{default}]: ").strip() or default
        except EOFError:
            raise UserError(f"standard input ended before {question!r} was answered; pipe one "
                            "line per question (an empty line keeps the default) or pass "
                            "--non-interactive to keep the current values") from None
        if piped:
            print(answer)  # the prompt went out without its answer; keep the transcript whole
        try:
            check(answer)
        except UserError as exc:
            if piped:
                raise
            print(f"  {exc}", file=sys.stderr)
            continue
        return answer


def _check_for(field_: str) -> Callable[[str], object]:
    if field_ in ("name", "model"):
        return lambda v: identity.check_name(v, field_)
    if field_ == "task":
        def task(v: str) -> None:
            if v not in config.TASKS:
                raise UserError(f"task: must be one of {', '.join(config.TASKS)}")
        return task

    def required(v: str) -> None:
        if not v.strip():
            raise UserError(f"{field_}: required")
    return required


def dirty(root: Path) -> list[str]:
    """Uncommitted changes under `root` (`git status --porcelain`); not a repo is an error."""
    out = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise UserError(f"{root}: not a git repository ({out.stderr.strip()}); "
                        "pass --force to run anyway")
    return [line for line in out.stdout.splitlines() if line.strip()]


def main(args: argparse.Namespace) -> None:
    paths = Paths(identity=Path(args.identity_file), params=Path(args.params_file),
                  contract=Path(args.contract_file), dvc_yaml=Path(args.dvc_yaml_file),
                  readme=Path(args.readme_file), intended_use=Path(args.intended_use_file))
    root = paths.params.resolve().parent
    if not args.force:
        changes = dirty(root)
        if changes:
            raise UserError(f"the git tree has {len(changes)} uncommitted change(s) "
                            f"({changes[0].strip()}, ...); commit or stash them, or pass --force")
    current = current_answers(paths)
    values = {k: getattr(current, k) for k in Answers.__dataclass_fields__}
    if args.from_github:
        answers = github_answers(os.environ, current.name)
        if answers is None:
            print(f"init: {os.environ['GITHUB_REPOSITORY']} already holds project "
                  f"{current.name!r}; nothing to do (delete template-init.yml to stop this check)")
            return
        values.update(answers)
    for field_ in ("owner", "image", "python"):
        if getattr(args, field_) is not None:
            values[field_] = getattr(args, field_)
    # Piped answers are answers: only --non-interactive (or a flag per question) skips asking.
    piped = not sys.stdin.isatty()
    for field_, _flag, prompt in QUESTIONS:
        given = getattr(args, field_)
        if given is not None:
            values[field_] = given
        elif not args.non_interactive:
            values[field_] = ask(prompt, values[field_], _check_for(field_), piped=piped)
    plan = make_plan(Answers(**values), paths, root=root, keep_workflows=args.from_github)
    add_starter(plan, paths)   # model_tests.yaml, when the data changed
    if plan.empty:
        print(f"init: {values['name']} is already set up this way; nothing to change")
        return
    plan.apply(paths.contract)
    if codeowners.write(root / ".github" / "CODEOWNERS", values["owner"]):
        print(f"init: .github/CODEOWNERS: @{values['owner']} reviews changes to the rules")
    changed = sorted({str(p) for p in plan.writes} | ({str(paths.contract)} if plan.contract
                                                        else set()))
    print(f"init: {values['name']} (model {values['model']}): wrote {', '.join(changed)}")
    for note in plan.notes:
        print(f"init: {note}")
    print("init: next: `uv run dvc repro`, review the diff, commit")
