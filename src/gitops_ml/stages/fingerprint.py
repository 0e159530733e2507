"""Stage `fingerprint`: record the size and SHA-256 of the file `data.source` names.

dvc.yaml runs it on every `dvc repro` (`always_changed`); `ingest` depends on its output, so a
changed, replaced or re-pointed data file reruns ingest and everything its output reaches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops_ml import config
from gitops_ml.io import write_json
from gitops_ml.sources import fingerprint


def main(args: argparse.Namespace) -> None:
    params = config.read_params(args.params)
    cfg = config.DataConfig.from_params(params)
    record = fingerprint(cfg.source, root=Path(args.params).resolve().parent)
    write_json(record, args.out)
    print(f"fingerprint: {cfg.source} {record.get('sha256', '(embedded)')[:12]} -> {args.out}")
