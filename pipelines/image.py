"""Image metadata for the main workflow: the model version that tags the serving image.

    python -m pipelines.image version [--model-dir models]   # prints version=..., and appends
                                                             # it to $GITHUB_OUTPUT when set
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.image", description=__doc__)
    ap.add_argument("command", choices=["version"])
    ap.add_argument("--model-dir", type=Path, default=Path("models"))
    args = ap.parse_args(argv)
    line = f"version={model_version(args.model_dir)}"
    print(line)
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
