"""Loading `data.source`: a bundled scikit-learn dataset, a file in the repo, or generated data."""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from gitops_ml.config import DataConfig, SyntheticConfig
from gitops_ml.errors import UserError

SKLEARN_DATASETS = ("breast_cancer", "wine", "iris", "diabetes")


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def load_sklearn(name: str, target: str) -> Any:
    """A dataset bundled with scikit-learn (no download), with snake_case feature names.

    Class labels become their names (`malignant`, `benign`), so reports read in words.
    """
    import numpy as np
    import pandas as pd
    from sklearn import datasets

    if name not in SKLEARN_DATASETS:
        raise UserError(f"data.source: unknown scikit-learn dataset {name!r} "
                        f"(choose from {', '.join(SKLEARN_DATASETS)})")
    bunch = getattr(datasets, f"load_{name}")()
    df = pd.DataFrame(bunch.data, columns=[_snake(c) for c in bunch.feature_names])
    if target in df.columns:
        raise UserError(f"data.target: {target!r} clashes with a feature of {name}")
    names = getattr(bunch, "target_names", None)
    if names is not None and len(names) and name != "diabetes":
        df[target] = pd.Series(np.asarray(names)[bunch.target], dtype=str)
    else:
        df[target] = bunch.target.astype("float64")
    return df


def make_synthetic(cfg: SyntheticConfig, target: str, seed: int) -> Any:
    """A dataset with numeric and categorical columns, missing values and a learnable target.

    Built in place and in Arrow where it can be (a million rows took two seconds); the draws
    and the arithmetic are unchanged, so a seed gives the same data as before.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = cfg.rows
    numeric = rng.standard_normal((n, cfg.numeric))
    numeric *= rng.uniform(0.5, 3, cfg.numeric)
    numeric += rng.uniform(-5, 5, cfg.numeric)
    weights = rng.standard_normal(cfg.numeric)
    scratch = numeric - numeric.mean(axis=0)
    scratch /= numeric.std(axis=0)
    signal = scratch @ weights / np.sqrt(cfg.numeric)
    if cfg.missing_rate > 0:  # the same draws as `rng.random(numeric.shape)`, into the scratch
        numeric[rng.random(out=scratch) < cfg.missing_rate] = np.nan
    del scratch
    cols: dict[str, Any] = {f"num_{i:02d}": numeric[:, i] for i in range(cfg.numeric)}
    labels = [f"c{k}" for k in range(cfg.categories)]
    for j in range(cfg.categorical):
        codes = rng.integers(0, cfg.categories, n)
        signal += (rng.standard_normal(cfg.categories) * 0.5)[codes]
        cols[f"cat_{j:02d}"] = _labels(codes, labels, missing=rng.random(n) < cfg.missing_rate)
    df = pd.DataFrame(cols)
    noisy = signal + rng.standard_normal(n) * 0.5
    if cfg.classes == 0:
        df[target] = noisy * 10 + 100
    else:
        edges = np.quantile(noisy, np.linspace(0, 1, cfg.classes + 1)[1:-1])
        df[target] = _labels(np.searchsorted(edges, noisy),
                             [f"class_{k}" for k in range(cfg.classes)])
    return df


def _labels(codes: Any, labels: list[str], missing: Any = None) -> Any:
    """`labels[codes]` (missing where `missing`) as a column of the type pandas gives strings,
    built in Arrow: converting a million Python strings took a tenth of a second per column."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=missing), pa.array(labels, type=pa.large_string()),
    ).cast(pa.large_string()).to_pandas()


def batch_files(folder: Path) -> list[Path]:
    """The labelled batches in `folder` (CSV or Parquet), in name order; none if it is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".parquet"))


def append_batches(df: Any, batches: list[Path], na_values: tuple[str, ...]) -> Any:
    """Labelled batches added after the source (how a retraining pull request adds new data)."""
    import pandas as pd

    from gitops_ml.io import read_table

    frames = [df]
    for path in batches:
        extra = read_table(path, key="batch", na_values=na_values)
        if set(extra.columns) != set(df.columns):
            diff = sorted(set(df.columns) ^ set(extra.columns))
            raise UserError(f"batch {path}: columns differ from data.source "
                            f"({', '.join(map(str, diff[:10]))})")
        frames.append(extra[df.columns].astype(df.dtypes.to_dict()))
    return pd.concat(frames, ignore_index=True)


def is_embedded(source: str) -> bool:
    """True for the sources made in code (`sklearn:<name>`, `synthetic`), not read from a file."""
    source = source.strip()
    return source.startswith("sklearn:") or source.rstrip(":") == "synthetic"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (what `sha256sum` prints), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(source: str, root: Path) -> dict[str, Any]:
    """What `data.source` holds right now, cheaply: the file's size and SHA-256.

    DVC cannot depend on a file whose name is a param, so the `fingerprint` stage records this on
    every run and `ingest` depends on the record: a changed file changes it, so ingest reruns, and
    the run-cache never restores data ingested from an older file. An embedded source is made by
    code and params (already dependencies); scikit-learn's version stands for its bundled data.
    """
    source = source.strip()
    if source.startswith("sklearn:"):
        return {"source": source, "scikit_learn": metadata.version("scikit-learn")}
    if is_embedded(source):
        return {"source": source}
    path = root / source
    if not path.is_file():
        tracked = path.with_name(path.name + ".dvc").is_file()
        hint = (f" (it is tracked by DVC in {source}.dvc: run `uv run dvc pull {source}`)"
                if tracked else "")
        raise UserError(f"data.source: file not found: {source}{hint}")
    return {"source": source, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def ingest(cfg: DataConfig, seed: int, root: Path, batches: list[Path] | None = None) -> Any:
    """Load `cfg.source` (relative paths resolve against `root`), then append `batches`."""
    from gitops_ml.io import read_table

    source = cfg.source.strip()
    if source.startswith("sklearn:"):
        df = load_sklearn(source.removeprefix("sklearn:"), cfg.target)
    elif source.rstrip(":") == "synthetic":
        df = make_synthetic(cfg.synthetic, cfg.target, seed)
    else:
        df = read_table(root / source, key="data.source", na_values=cfg.na_values)
    if df.empty or len(df.columns) == 0:
        raise UserError(f"data.source: {cfg.source!r} has no rows")
    if batches:
        df = append_batches(df, batches, cfg.na_values)
    if cfg.target not in df.columns:
        raise UserError(f"data.target: column {cfg.target!r} not found in {cfg.source!r} "
                        f"(columns: {', '.join(map(str, df.columns[:20]))})")
    if df[cfg.target].isna().all():
        raise UserError(f"data.target: column {cfg.target!r} is empty in {cfg.source!r}")
    return df


def missing_tokens(cfg: DataConfig, root: Path) -> dict[str, dict[str, int]]:
    """Per column of a CSV `data.source`: how many cells hold each string of `data.na_values`,
    that is, what reading it turned into missing values (blank cells left out). Empty for the
    embedded sources and Parquet, whose nulls are typed."""
    import pandas as pd

    source = cfg.source.strip()
    path = root / source
    if is_embedded(source) or path.suffix.lower() not in (".csv", ".txt"):
        return {}
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except (ValueError, OSError) as exc:
        raise UserError(f"data.source: cannot read {path}: {exc}") from exc
    tokens = [t for t in cfg.na_values if t.strip()]
    found = {}
    for name in raw.columns:
        counts = raw[name][raw[name].isin(tokens)].value_counts()
        if len(counts):
            found[str(name)] = {str(token): int(n) for token, n in counts.items()}
    return found
