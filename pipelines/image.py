"""Image metadata for the workflows: where the serving image lives, the model version that tags
it, and the model's metrics as image labels (the same numbers as model.json inside the image).

    python -m pipelines.image name [--login]                 # name=, registry= of the image
                                                             # namespace (the one decision)
    python -m pipelines.image version [--model-dir models]   # prints version=..., and appends
                                                             # it to $GITHUB_OUTPUT when set
    python -m pipelines.image same --tested ID --pushed ID   # exit 1 unless the IDs match
    python -m pipelines.image labels [--model-dir models]    # one label per metric, as a
                                                             # multi-line output `labels`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitops_ml import identity
from gitops_ml.errors import UserError

# Docker tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


GHCR = "ghcr.io"


def namespace(project_image: str, repository: str, registry: str = "") -> str:
    """The image namespace main.yml publishes to and every deploy verifies against.

    project.yaml's `image` when set; else <registry>/<owner>/<repo> in lowercase (GHCR accepts no
    capitals), the registry being variable IMAGE_REGISTRY or ghcr.io. Both set and disagreeing
    is an error rather than a silent choice: one would publish where the other never looks.
    """
    if project_image:
        if registry and project_image.split("/", 1)[0] != registry:
            raise UserError(f"project.yaml image {project_image!r} is not on IMAGE_REGISTRY "
                            f"{registry!r}: set one of them, or make them agree")
        return project_image
    if not repository or repository.count("/") != 1:
        raise UserError(f"GITHUB_REPOSITORY: expected OWNER/REPO, got {repository!r}")
    return f"{registry or GHCR}/{repository.lower()}"


def decide(project: Path, env: Mapping[str, str]) -> str:
    """`namespace` from project.yaml and the environment (GITHUB_REPOSITORY, IMAGE_REGISTRY)."""
    image = identity.load(project).image if project.is_file() else ""
    return namespace(image, env.get("GITHUB_REPOSITORY", ""), env.get("IMAGE_REGISTRY", ""))


def login_problem(registry: str, env: Mapping[str, str]) -> str | None:
    """None when the workflow can log in to `registry`; else what to set.

    The workflow token logs in to ghcr.io only
    (https://docs.github.com/en/packages/working-with-a-github-packages-registry/working-with-the-container-registry#authenticating-in-a-github-actions-workflow);
    any other registry needs secrets REGISTRY_USERNAME and REGISTRY_PASSWORD, which the
    workflow reports as REGISTRY_CREDENTIALS=true without handing their values to this code.
    """
    if registry == GHCR or env.get("REGISTRY_CREDENTIALS") == "true":
        return None
    return (f"registry {registry}: the workflow token logs in to {GHCR} only; set repository "
            "secrets REGISTRY_USERNAME and REGISTRY_PASSWORD for it")


def model_version(model_dir: Path) -> str:
    """model.json's `version` when the registry has set one; else model-<12 hex of model.onnx>."""
    meta = json.loads((model_dir / "model.json").read_text())
    version = meta.get("version")
    if version:
        version = str(version)
        if not _TAG.match(version):
            raise ValueError(f"model.json version {version!r} is not a valid image tag")
        return version
    digest = hashlib.sha256((model_dir / meta["onnx"]["file"]).read_bytes()).hexdigest()
    return f"model-{digest[:12]}"


LABEL_PREFIX = "io.gitops-ml.model.metric."


def metric_labels(model_dir: Path) -> list[str]:
    """`<prefix><metric>=<value>` per metric in model.json, so `docker inspect` or a registry UI
    shows the reviewed metrics without pulling the image (model.json in it has them too)."""
    metrics = json.loads((model_dir / "model.json").read_text()).get("metrics") or {}
    return [f"{LABEL_PREFIX}{name}={value!r}" for name, value in sorted(metrics.items())
            if re.fullmatch(r"[a-z0-9_]+", name) and isinstance(value, int | float)]


def same_image(tested: str, pushed: str) -> str | None:
    """None when the pushed image ID is the smoke-tested one; else why not."""
    if not tested or not pushed:
        return f"an image ID is missing (tested {tested!r}, pushed {pushed!r})"
    if tested != pushed:
        return (f"the pushed image {pushed} is not the smoke-tested image {tested}: the second "
                "build did not reproduce the first (a build input changed between them)")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.image", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    naming = sub.add_parser("name", help="the image namespace and its registry")
    naming.add_argument("--project", type=Path, default=Path("project.yaml"))
    naming.add_argument("--login", action="store_true",
                      help="fail unless the workflow has credentials for the registry")
    for name in ("version", "labels"):
        sub.add_parser(name).add_argument("--model-dir", type=Path, default=Path("models"))
    same = sub.add_parser("same", help="fail unless the pushed image is the smoke-tested one")
    same.add_argument("--tested", required=True, help="image ID of the smoke-tested build")
    same.add_argument("--pushed", required=True, help="image ID of the pushed build")
    args = ap.parse_args(argv)
    if args.command == "name":
        try:
            image = decide(args.project, os.environ)
            registry = image.split("/", 1)[0]
            problem = login_problem(registry, os.environ) if args.login else None
            if problem:
                raise UserError(problem)
        except UserError as exc:
            print(f"image name: error: {exc}", file=sys.stderr)
            return 2
        text = f"name={image}\nregistry={registry}\n"
        print(text, end="")
    elif args.command == "same":
        problem = same_image(args.tested, args.pushed)
        print(f"image: {problem}" if problem else f"image: pushed {args.pushed}, as tested",
              file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    elif args.command == "labels":
        labels = metric_labels(args.model_dir)
        text = "labels<<EOF\n" + "".join(f"{line}\n" for line in labels) + "EOF\n"
        print("\n".join(labels))
    else:
        text = f"version={model_version(args.model_dir)}\n"
        print(text, end="")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
