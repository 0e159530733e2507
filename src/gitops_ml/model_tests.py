"""Behavioural tests and the perturbation (robustness) check, run on the exported ONNX model.

Every prediction goes through `Scorer`, which turns a DataFrame into ONNX feeds with the feature
schema (`gitops_ml.features`, the one path serving and `gitops-ml predict` use), so the tests
judge the model that is served, not the scikit-learn pipeline it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gitops_ml.config import RobustnessConfig
from gitops_ml.errors import UserError
from gitops_ml.features import Feature, FeatureSchema, InvalidInput
from gitops_ml.model_tests_spec import Directional, Invariance, MinimumFunctionality, ModelTests
from gitops_ml.serve.model import OnnxModel

MAX_ROWS = 2000        # test rows each invariance/directional test perturbs (a seeded sample)
EXAMPLES = 3           # failing rows shown per test


@dataclass(frozen=True)
class Scores:
    """What the model said: labels and class probabilities, or values (regression)."""

    labels: np.ndarray | None
    proba: np.ndarray | None
    values: np.ndarray | None

    def score(self, column: int | None) -> np.ndarray:
        """The judged score per row: one class's probability, or the predicted value."""
        return self.values if self.proba is None else self.proba[:, column]

    def outputs(self) -> np.ndarray:
        """Everything an invariance compares, as [rows, k]."""
        return self.values.reshape(-1, 1) if self.proba is None else self.proba


class Scorer:
    """Scores DataFrames with the ONNX model through the feature schema."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.meta = model.meta
        self.features = {f.name: f for f in model.meta.features}
        self._schema = FeatureSchema(model.meta.features, reject_unknown_categories=True)

    def feeds(self, df: Any) -> dict[str, np.ndarray]:
        """ONNX feeds for `df`, through the feature schema."""
        try:
            return self._schema.frame(df)
        except InvalidInput as exc:
            p = exc.problems[0]
            raise UserError(f"model_tests: row {p.row}, {p.field}: {p.error} "
                            f"({len(exc.problems)} problem(s))") from None

    def __call__(self, df: Any) -> Scores:
        out = self.model.run(self.feeds(df))
        if not self.meta.is_classifier:
            return Scores(None, None, np.asarray(out["value"], dtype=float).ravel())
        labels = np.asarray([str(v) for v in np.asarray(out["label"]).ravel()], dtype=object)
        return Scores(labels, np.asarray(out["probabilities"], dtype=float), None)

    def class_index(self, name: str | None, where: str) -> int | None:
        classes = list(self.meta.classes or ())
        if not self.meta.is_classifier:
            if name is not None:
                raise UserError(f"{where}.score_of: a regression model has no classes; omit it")
            return None
        if name is None:
            raise UserError(f"{where}.score_of: required for a classifier "
                            f"(one of {', '.join(classes)})")
        if name not in classes:
            raise UserError(f"{where}.score_of: {name!r} is not a class "
                            f"(classes: {', '.join(classes)})")
        return classes.index(name)


def _feature(scorer: Scorer, name: str, where: str) -> Feature:
    f = scorer.features.get(name)
    if f is None:
        raise UserError(f"{where}.column: {name!r} is not a model feature "
                        f"(features: {', '.join(list(scorer.features)[:20])})")
    return f


def _check_value(f: Feature, value: Any, where: str) -> Any:
    if f.is_number:
        if isinstance(value, str):
            raise UserError(f"{where}: {f.name} is a number, got {value!r}")
        return value
    if value is None:
        return None
    if f.categories is not None and str(value) not in f.categories:
        raise UserError(f"{where}: {value!r} is not a category of {f.name} "
                        f"(known: {', '.join(f.categories[:20])})")
    return str(value)


# One-sided 95%: a test fails only when its failure rate is shown to exceed the allowance.
Z_ONE_SIDED_95 = 1.6449


def lower_bound(failing: int, rows: int, z: float = Z_ONE_SIDED_95) -> float:
    """Wilson score lower bound of a failure rate: the small-sample allowance. On 114 test rows,
    4 failing (3.5%) has a lower bound of 1.6%: within a 2% allowance, where a rate compared
    as is would fail it on row counts this small (https://doi.org/10.2307/2276774)."""
    if rows == 0 or failing == 0:
        return 0.0
    p, n = failing / rows, rows
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, float((centre - spread) / (1 + z * z / n)))


def _result(test: Any, rows: int, failing: int, examples: list[dict[str, Any]],
            allowed: float = 0.0) -> dict[str, Any]:
    rate = failing / rows if rows else 0.0
    # an allowance of 0 stays strict: one failing row fails the test
    passed = failing == 0 if allowed == 0 else bool(lower_bound(failing, rows) <= allowed)
    return {"name": test.name, "kind": test.kind, "warn_only": test.warn_only,
            "passed": passed, "rows": rows, "failing": failing,
            "failure_rate": round(rate, 6), "failure_rate_lower_bound":
            round(lower_bound(failing, rows), 6), "max_failure_rate": allowed,
            "examples": examples[:EXAMPLES]}


def invariance(test: Invariance, scorer: Scorer, df: Any, where: str) -> dict[str, Any]:
    """Worst change of any output over the set or range, per row, against the tolerance."""
    f = _feature(scorer, test.column, where)
    if test.range is not None:
        if not f.is_number:
            raise UserError(f"{where}.range: {f.name} is a category; list values instead")
        domain = np.linspace(test.range[0], test.range[1], test.points).tolist()
    else:
        domain = [_check_value(f, v, f"{where}.values") for v in test.values or []]
    before = scorer(df).outputs()
    worst, worst_value = np.zeros(len(df)), [None] * len(df)
    for value in domain:
        changed = df.copy()
        changed[f.name] = value
        move = np.abs(scorer(changed).outputs() - before).max(axis=1)
        for i in np.flatnonzero(move > worst):
            worst_value[i] = value
        worst = np.maximum(worst, move)
    bad = np.flatnonzero(worst > test.tolerance)
    examples = [{"row": int(i), "original": _plain(df[f.name].iloc[i]),
                 "changed_to": _plain(worst_value[i]), "change": round(float(worst[i]), 6)}
                for i in bad[:EXAMPLES]]
    return _result(test, len(df), len(bad), examples, test.max_failure_rate) | {
        "largest_change": round(float(worst.max()), 6) if len(df) else 0.0}


def directional(test: Directional, scorer: Scorer, df: Any, where: str) -> dict[str, Any]:
    """Adding `change` must move the judged score in the expected direction (within tolerance)."""
    f = _feature(scorer, test.column, where)
    if not f.is_number:
        raise UserError(f"{where}.column: {f.name} is a category; directional tests need a "
                        "number")
    column = scorer.class_index(test.score_of, where)
    changed = df.copy()
    changed[f.name] = changed[f.name] + test.change
    before, after = scorer(df).score(column), scorer(changed).score(column)
    delta = after - before
    sign = 1 if test.expect == "increase" else -1
    bad = np.flatnonzero(sign * delta < -test.tolerance)
    examples = [{"row": int(i), "original": _plain(df[f.name].iloc[i]),
                 "changed_to": _plain(changed[f.name].iloc[i]),
                 "score_before": round(float(before[i]), 6),
                 "score_after": round(float(after[i]), 6)} for i in bad[:EXAMPLES]]
    return _result(test, len(df), len(bad), examples, test.max_failure_rate)


def typical_row(df: Any, scorer: Scorer) -> dict[str, Any]:
    """The test set's median numbers and most frequent categories: the base of an example."""
    row: dict[str, Any] = {}
    for f in scorer.meta.features:
        col = df[f.name]
        if f.is_number:
            row[f.name] = float(col.median())
        else:
            mode = col.dropna().astype(str).mode()
            row[f.name] = mode.iloc[0] if len(mode) else None
    return row


def minimum_functionality(test: MinimumFunctionality, scorer: Scorer, df: Any,
                          where: str) -> dict[str, Any]:
    """Each named example must get its label or land in its range."""
    import pandas as pd

    base = typical_row(df, scorer)
    rows = []
    for j, ex in enumerate(test.examples):
        at = f"{where}.examples[{j}]"
        row = dict(base)
        for name, value in ex.features.items():
            f = scorer.features.get(name)
            if f is None:
                raise UserError(f"{at}.features.{name}: not a model feature")
            row[name] = _check_value(f, value, f"{at}.features.{name}")
        if scorer.meta.is_classifier and ex.label is None:
            raise UserError(f"{at}: a classifier's example needs a label, not a range")
        if not scorer.meta.is_classifier and ex.range is None:
            raise UserError(f"{at}: a regressor's example needs a range, not a label")
        if ex.label is not None and ex.label not in (scorer.meta.classes or ()):
            raise UserError(f"{at}.label: {ex.label!r} is not a class "
                            f"(classes: {', '.join(scorer.meta.classes or ())})")
        rows.append(row)
    scores = scorer(pd.DataFrame(rows))
    failures = []
    for j, ex in enumerate(test.examples):
        if ex.label is not None:
            got: Any = str(scores.labels[j])
            ok = got == ex.label
            expected: Any = ex.label
        else:
            got = round(float(scores.values[j]), 6)
            ok = ex.range[0] <= got <= ex.range[1]
            expected = list(ex.range)
        if not ok:
            failures.append({"example": ex.name, "expected": expected, "got": got})
    return _result(test, len(test.examples), len(failures), failures)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    return value


def sample(df: Any, seed: int, max_rows: int = MAX_ROWS) -> Any:
    """At most `max_rows` test rows (seeded), indexed 0..n-1 so examples name a row."""
    if len(df) > max_rows:
        df = df.sample(n=max_rows, random_state=seed)
    return df.reset_index(drop=True)


def run(spec: ModelTests, scorer: Scorer, df: Any) -> list[dict[str, Any]]:
    """Every test of the file, in order."""
    out = []
    for i, test in enumerate(spec.tests):
        where = f"tests[{i}] ({test.name})"
        if isinstance(test, Invariance):
            out.append(invariance(test, scorer, df, where))
        elif isinstance(test, Directional):
            out.append(directional(test, scorer, df, where))
        else:
            out.append(minimum_functionality(test, scorer, df, where))
    return out


def perturb(df: Any, scorer: Scorer, cfg: RobustnessConfig, rng: np.random.Generator) -> Any:
    """Small noise on every numeric feature (clipped to its accepted range) and, in a share of
    rows, each category swapped for the most frequent other category."""
    out = df.copy()
    for f in scorer.meta.features:
        col = df[f.name]
        if f.is_number:
            std = float(col.std()) if len(col) > 1 else 0.0
            noisy = col.to_numpy(dtype=float) + rng.normal(0.0, cfg.noise * std, len(col))
            low = -np.inf if f.min is None else f.min
            high = np.inf if f.max is None else f.max
            noisy = np.clip(noisy, low, high)
            if f.dtype == "integer":
                noisy = np.round(noisy)
            out[f.name] = noisy
        else:
            ranked = col.dropna().astype(str).value_counts().index.tolist()
            if len(ranked) < 2:
                continue
            swap = rng.random(len(col)) < cfg.category_swap
            current = col.astype(object).where(col.notna(), None).tolist()
            out[f.name] = [(ranked[1] if v == ranked[0] else ranked[0]) if s else v
                           for v, s in zip(current, swap, strict=True)]
    return out


def robustness(scorer: Scorer, df: Any, cfg: RobustnessConfig, seed: int) -> dict[str, Any] | None:
    """Share of rows whose label flips (regression: whose value moves by more than
    value_tolerance × the target's std) under perturbation, averaged over repeats."""
    if cfg.repeats == 0 or len(df) == 0:
        return None
    rng = np.random.default_rng(seed)
    before = scorer(df)
    # regression: a flip is a move larger than a share of the target's spread on these rows
    # (of the predictions' when the rows carry no target)
    target = scorer.meta.target
    spread = df[target] if target in df.columns else before.values
    scale = float(np.nanstd(np.asarray(spread, dtype=float))) if before.values is not None \
        else 0.0
    scale = scale or 1.0
    rates = []
    for _ in range(cfg.repeats):
        after = scorer(perturb(df, scorer, cfg, rng))
        if before.labels is not None:
            flipped = after.labels != before.labels
        else:
            flipped = np.abs(after.values - before.values) > cfg.value_tolerance * scale
        rates.append(float(np.mean(flipped)))
    return {"flip_rate": round(float(np.mean(rates)), 6),
            "per_repeat": [round(r, 6) for r in rates], "rows": int(len(df)),
            "noise": cfg.noise, "category_swap": cfg.category_swap, "repeats": cfg.repeats}
