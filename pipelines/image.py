"""Image metadata for the main workflow: the model version that tags the serving image, and
the model's metrics as image labels (the same numbers as model.json inside the image).

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
from collections.abc import Sequence
from pathlib import Path

# Docker tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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
    for name in ("version", "labels"):
        sub.add_parser(name).add_argument("--model-dir", type=Path, default=Path("models"))
    same = sub.add_parser("same", help="fail unless the pushed image is the smoke-tested one")
    same.add_argument("--tested", required=True, help="image ID of the smoke-tested build")
    same.add_argument("--pushed", required=True, help="image ID of the pushed build")
    args = ap.parse_args(argv)
    if args.command == "same":
        problem = same_image(args.tested, args.pushed)
        print(f"image: {problem}" if problem else f"image: pushed {args.pushed}, as tested",
              file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    if args.command == "labels":
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
