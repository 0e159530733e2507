"""Merge gates: `gates:` in params.yaml -> a typed config -> one verdict per gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitops_ml.errors import UserError
from gitops_ml.fairness import GAP_LIMITS
from gitops_ml.report.diff import DIRECTIONS
from gitops_ml.report.formatting import MINUS, num, pct, signed

GROUPS = ("floors", "max_regression", "onnx_parity", "data_contract", "max_slice_gap",
          "model_tests", "max_flip_rate", "fairness")
FAIRNESS_LIMITS = GAP_LIMITS


@dataclass(frozen=True)
class Floor:
    """An absolute bound: a minimum, or a maximum for lower-is-better metrics."""

    metric: str
    bound: float


@dataclass(frozen=True)
class MaxRegression:
    """The largest allowed move in the worse direction against the baseline."""

    metric: str
    abs: float | None = None
    rel: float | None = None


@dataclass(frozen=True)
class SliceGap:
    """The largest allowed spread of a metric between the slices of one column."""

    metric: str
    column: str
    max: float


@dataclass(frozen=True)
class FairnessLimit:
    """A bound on one fairness gap of one protected column."""

    column: str
    metric: str
    kind: str                    # max | min
    bound: float
    index: int = 0               # position in gates.fairness, for the error message


@dataclass(frozen=True)
class GatesConfig:
    """Every gate a pull request must pass; groups named in `warn_only` only warn."""

    floors: tuple[Floor, ...] = ()
    max_regression: tuple[MaxRegression, ...] = ()
    onnx_parity: bool = False
    data_contract: bool = False
    max_slice_gap: SliceGap | None = None
    model_tests: bool = False
    max_flip_rate: float | None = None
    fairness: tuple[FairnessLimit, ...] = ()
    warn_only: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GatesConfig:
        """Read the `gates:` section; a missing section means no gates."""
        section = params.get("gates")
        if section is None:
            return cls()
        _mapping(section, "gates")
        unknown = sorted(set(section) - set(GROUPS) - {"warn_only"})
        if unknown:
            raise UserError(f"gates.{unknown[0]}: unknown gate (known: {', '.join(GROUPS)}, "
                            "warn_only)")
        return cls(
            floors=_floors(section.get("floors")),
            max_regression=_regressions(section.get("max_regression")),
            onnx_parity=_flag(section, "onnx_parity"),
            data_contract=_flag(section, "data_contract"),
            max_slice_gap=_slice_gap(section.get("max_slice_gap")),
            model_tests=_flag(section, "model_tests"),
            max_flip_rate=_flip_rate(section.get("max_flip_rate")),
            fairness=_fairness(section.get("fairness")),
            warn_only=_warn_only(section.get("warn_only")),
        )


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{key}: must be a mapping, got {value!r}")
    return value


def _number(value: Any, key: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{key}: expected a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise UserError(f"{key}: must be {'>' if positive else '≥'} 0, got {value!r}")
    return float(value)


def _metric(name: Any, key: str) -> str:
    if name not in DIRECTIONS:
        raise UserError(f"{key}: unknown metric {name!r} (known: {', '.join(DIRECTIONS)})")
    return name


def _flag(section: dict[str, Any], name: str) -> bool:
    value = section.get(name, False)
    if not isinstance(value, bool):
        raise UserError(f"gates.{name}: expected true or false, got {value!r}")
    return value


def _floors(section: Any) -> tuple[Floor, ...]:
    if section is None:
        return ()
    items = _mapping(section, "gates.floors").items()
    return tuple(Floor(_metric(m, f"gates.floors.{m}"), _number(v, f"gates.floors.{m}"))
                 for m, v in items)


def _regressions(section: Any) -> tuple[MaxRegression, ...]:
    if section is None:
        return ()
    out = []
    for metric, rule in _mapping(section, "gates.max_regression").items():
        key = f"gates.max_regression.{metric}"
        _metric(metric, key)
        rule = _mapping(rule, key)
        extra = sorted(set(rule) - {"abs", "rel"})
        if extra:
            raise UserError(f"{key}.{extra[0]}: unknown limit (use abs and/or rel)")
        if not rule:
            raise UserError(f"{key}: give abs and/or rel, e.g. {{abs: 0.01}}")
        out.append(MaxRegression(
            metric,
            abs=_number(rule["abs"], f"{key}.abs") if "abs" in rule else None,
            rel=_number(rule["rel"], f"{key}.rel") if "rel" in rule else None,
        ))
    return tuple(out)


def _slice_gap(section: Any) -> SliceGap | None:
    if section is None:
        return None
    key = "gates.max_slice_gap"
    section = _mapping(section, key)
    for name in ("metric", "column", "max"):
        if name not in section:
            raise UserError(f"{key}.{name}: required but missing")
    extra = sorted(set(section) - {"metric", "column", "max"})
    if extra:
        raise UserError(f"{key}.{extra[0]}: unknown setting (use metric, column, max)")
    column = section["column"]
    if not isinstance(column, str) or not column:
        raise UserError(f"{key}.column: expected a column name, got {column!r}")
    return SliceGap(_metric(section["metric"], f"{key}.metric"), column,
                    _number(section["max"], f"{key}.max"))


def _flip_rate(value: Any) -> float | None:
    if value is None:
        return None
    rate = _number(value, "gates.max_flip_rate")
    if rate > 1:
        raise UserError(f"gates.max_flip_rate: a share of rows in [0, 1], got {value!r}")
    return rate


def _fairness(section: Any) -> tuple[FairnessLimit, ...]:
    if section is None:
        return ()
    if not isinstance(section, list):
        raise UserError(f"gates.fairness: expected a list of limits such as "
                        f"{{column: sex, metric: equalized_odds_difference, max: 0.1}}, "
                        f"got {section!r}")
    out = []
    for i, rule in enumerate(section):
        key = f"gates.fairness[{i}]"
        rule = _mapping(rule, key)
        extra = sorted(set(rule) - {"column", "metric", "max", "min"})
        if extra:
            raise UserError(f"{key}.{extra[0]}: unknown setting (use column, metric and max or "
                            "min)")
        for name in ("column", "metric"):
            if name not in rule:
                raise UserError(f"{key}.{name}: required but missing")
        column, metric = rule["column"], rule["metric"]
        if not isinstance(column, str) or not column:
            raise UserError(f"{key}.column: expected a column name, got {column!r}")
        kind = FAIRNESS_LIMITS.get(metric)
        if kind is None:
            raise UserError(f"{key}.metric: unknown fairness metric {metric!r} "
                            f"(known: {', '.join(FAIRNESS_LIMITS)})")
        other = "min" if kind == "max" else "max"
        if other in rule:
            raise UserError(f"{key}.{other}: {metric} is bounded by {kind}, not {other} "
                            f"(a {'difference' if kind == 'max' else 'ratio'} is worse when "
                            f"{'higher' if kind == 'max' else 'lower'})")
        if kind not in rule:
            raise UserError(f"{key}.{kind}: required but missing")
        out.append(FairnessLimit(column, metric, kind, _number(rule[kind], f"{key}.{kind}"), i))
    return tuple(out)


def _warn_only(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise UserError(f"gates.warn_only: expected a list of gate names, got {value!r}")
    for i, name in enumerate(value):
        if name not in GROUPS:
            raise UserError(f"gates.warn_only[{i}]: unknown gate {name!r} "
                            f"(known: {', '.join(GROUPS)})")
    return frozenset(value)


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, as the report shows it."""

    gate: str                    # what is checked, e.g. "roc_auc floor"
    key: str                     # where it is configured, e.g. "gates.floors.roc_auc"
    rule: str                    # the threshold, e.g. "≥ 0.95"
    value: str                   # what was measured
    status: str                  # pass | fail | skip | error
    blocking: bool
    detail: str = ""             # why, when it did not simply pass

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return dict(self.__dict__)


def _bound_rule(direction: int, bound: float) -> str:
    return f"{'≥' if direction > 0 else '≤'} {num(bound)}"


def _not_produced(key: str, metric: str, head: dict[str, Any]) -> str:
    return (f"{key}: this task does not produce {metric} "
            f"(it reports {', '.join(sorted(head)) or 'no metrics'}); remove or change the gate")


def evaluate(cfg: GatesConfig, *, head_metrics: dict[str, Any],
             base_metrics: dict[str, Any] | None, onnx_parity: dict[str, Any] | None,
             data_validation: dict[str, Any] | None,
             slices: dict[str, Any] | None, model_tests: dict[str, Any] | None = None,
             fairness: dict[str, Any] | None = None) -> list[GateResult]:
    """Apply every configured gate to the head results (and the baseline, when there is one)."""
    results: list[GateResult] = []
    for floor in cfg.floors:
        results.append(_floor(floor, head_metrics, "floors" not in cfg.warn_only))
    for reg in cfg.max_regression:
        results.append(_regression(reg, head_metrics, base_metrics,
                                   "max_regression" not in cfg.warn_only))
    if cfg.onnx_parity:
        results.append(_parity(onnx_parity, "onnx_parity" not in cfg.warn_only))
    if cfg.data_contract:
        results.append(_contract(data_validation, "data_contract" not in cfg.warn_only))
    if cfg.max_slice_gap is not None:
        results.append(_gap(cfg.max_slice_gap, slices, "max_slice_gap" not in cfg.warn_only))
    if cfg.model_tests:
        results.append(_behaviour(model_tests, "model_tests" not in cfg.warn_only))
    if cfg.max_flip_rate is not None:
        results.append(_flips(cfg.max_flip_rate, model_tests,
                              "max_flip_rate" not in cfg.warn_only))
    for limit in cfg.fairness:
        results.append(_fair(limit, fairness, "fairness" not in cfg.warn_only))
    return results


def _floor(floor: Floor, head: dict[str, Any], blocking: bool) -> GateResult:
    key = f"gates.floors.{floor.metric}"
    direction = DIRECTIONS[floor.metric]
    name = f"{floor.metric} {'floor' if direction > 0 else 'ceiling'}"
    rule = _bound_rule(direction, floor.bound)
    value = head.get(floor.metric)
    if not isinstance(value, int | float):
        # A gate on a metric the task does not report is a config error, never a silent pass.
        return GateResult(name, key, rule, "—", "error", True, _not_produced(key, floor.metric,
                                                                            head))
    ok = value >= floor.bound if direction > 0 else value <= floor.bound
    detail = "" if ok else f"{num(value)} is {'below' if direction > 0 else 'above'} " \
                           f"{num(floor.bound)} by {num(abs(value - floor.bound))}"
    return GateResult(name, key, rule, num(value), "pass" if ok else "fail", blocking, detail)


def _regression(reg: MaxRegression, head: dict[str, Any], base: dict[str, Any] | None,
                blocking: bool) -> GateResult:
    key = f"gates.max_regression.{reg.metric}"
    direction = DIRECTIONS[reg.metric]
    word = "main " + ("−" if direction > 0 else "+")
    limits = []
    if reg.abs is not None:
        limits.append(f"{'≥' if direction > 0 else '≤'} {word} {num(reg.abs)}")
    if reg.rel is not None:
        limits.append(f"{'≥' if direction > 0 else '≤'} {word} {reg.rel * 100:g}%")
    rule = " and ".join(limits).replace("−", MINUS)
    name = f"{reg.metric} regression"
    value = head.get(reg.metric)
    if not isinstance(value, int | float):
        return GateResult(name, key, rule, "—", "error", True,
                          _not_produced(key, reg.metric, head))
    if base is None:
        return GateResult(name, key, rule, num(value), "skip", blocking,
                          "no baseline on main yet (first pull request): only floors apply")
    before = base.get(reg.metric)
    if not isinstance(before, int | float):
        return GateResult(name, key, rule, num(value), "skip", blocking,
                          f"main has no {reg.metric} to compare with")
    delta = value - before
    worse_by = -delta * direction          # > 0 means the head is worse
    rel_worse = worse_by / abs(before) if before != 0 else (float("inf") if worse_by > 0 else 0.0)
    failures = []
    if reg.abs is not None and worse_by > reg.abs:
        failures.append(f"worse by {num(worse_by)}, allowed {num(reg.abs)}")
    if reg.rel is not None and rel_worse > reg.rel:
        failures.append(f"worse by {rel_worse * 100:.1f}%, allowed {reg.rel * 100:g}%")
    shown = f"{signed(delta)} ({pct(delta / abs(before))})" if before != 0 else signed(delta)
    return GateResult(name, key, rule, shown, "fail" if failures else "pass", blocking,
                      "; ".join(failures))


def _percent(share: Any) -> str:
    return f"{share * 100:.4g}%" if isinstance(share, int | float) else "—"


def _parity(parity: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name = "gates.onnx_parity", "ONNX parity"
    if not isinstance(parity, dict) or not isinstance(parity.get("passed"), bool):
        return GateResult(name, key, "parity check passed", "—", "error", blocking,
                          "no ONNX parity result (reports/onnx_parity.json) from the export stage")
    tol = parity.get("tolerance") or {}
    rule = (f"max Δ ≤ {num(tol.get('max_abs_diff'))}, labels ≥ "
            f"{_percent(tol.get('min_label_agreement'))}") if tol else "passed"
    value = f"{num(parity.get('max_abs_diff'))}, {_percent(parity.get('label_agreement'))}"
    ok = parity["passed"]
    return GateResult(name, key, rule, value, "pass" if ok else "fail", blocking,
                      "" if ok else "ONNX Runtime and scikit-learn disagree beyond the tolerance")


def _contract(report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name = "gates.data_contract", "data contract"
    if not isinstance(report, dict) or not isinstance(report.get("passed"), bool):
        return GateResult(name, key, "0 failed checks", "—", "error", blocking,
                          "no data validation result (reports/data_validation.json)")
    failed = report.get("failed_checks", 0)
    ok = report["passed"]
    detail = "" if ok else "; ".join(
        f"{f.get('column')}: {f.get('check')} ({f.get('failing')} rows)"
        for f in (report.get("failures") or [])[:5])
    return GateResult(name, key, "0 failed checks", str(failed), "pass" if ok else "fail",
                      blocking, detail)


def _gap(gap: SliceGap, slices: dict[str, Any] | None, blocking: bool) -> GateResult:
    key = "gates.max_slice_gap"
    name = f"slice gap ({gap.metric} by {gap.column})"
    rule = f"≤ {num(gap.max)}"
    rows = (slices or {}).get(gap.column)
    if not isinstance(rows, list) or not rows:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.column: no slices for {gap.column!r} (evaluate.slices lists "
                          f"{', '.join(sorted(slices or {})) or 'none'})")
    values = [r[gap.metric] for r in rows if isinstance(r.get(gap.metric), int | float)]
    if not values:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.metric: slices do not report {gap.metric}")
    spread = max(values) - min(values)
    ok = spread <= gap.max
    return GateResult(name, key, rule, num(spread), "pass" if ok else "fail", blocking,
                      "" if ok else f"gap {num(spread)} exceeds {num(gap.max)} by "
                                    f"{num(spread - gap.max)}")



def _behaviour(report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name, rule = "gates.model_tests", "behavioural tests", "every test passes"
    tests = (report or {}).get("tests")
    if not isinstance(tests, list):
        return GateResult(name, key, rule, "—", "error", blocking,
                          "no behavioural test results (reports/model_tests.json) from the "
                          "model_tests stage")
    failed = [t for t in tests if not t.get("passed")]
    hard = [t for t in failed if not t.get("warn_only")]
    value = f"{len(tests) - len(failed)}/{len(tests)} passed"
    detail = "; ".join(f"{t.get('name')}: {t.get('failing')} of {t.get('rows')} failing"
                       + (" (warn-only)" if t.get("warn_only") else "") for t in failed[:5])
    return GateResult(name, key, rule, value, "fail" if hard else "pass", blocking, detail)


def _flips(limit: float, report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key, name, rule = "gates.max_flip_rate", "robustness flip rate", f"≤ {_percent(limit)}"
    robust = (report or {}).get("robustness")
    rate = robust.get("flip_rate") if isinstance(robust, dict) else None
    if not isinstance(rate, int | float):
        return GateResult(name, key, rule, "—", "error", blocking,
                          "no robustness result in reports/model_tests.json "
                          "(robustness.repeats is 0, or the model_tests stage did not run)")
    ok = rate <= limit
    return GateResult(name, key, rule, _percent(rate), "pass" if ok else "fail", blocking,
                      "" if ok else f"{_percent(rate)} of predictions flip under small "
                                    f"perturbations, allowed {_percent(limit)}")


def _fair(limit: FairnessLimit, report: dict[str, Any] | None, blocking: bool) -> GateResult:
    key = f"gates.fairness[{limit.index}]"
    name = f"{limit.metric} by {limit.column}"
    rule = f"{'≤' if limit.kind == 'max' else '≥'} {num(limit.bound)}"
    columns = (report or {}).get("columns")
    if not isinstance(columns, dict):
        return GateResult(name, key, rule, "—", "error", True,
                          "no fairness results (reports/fairness.json) from the model_tests stage")
    result = columns.get(limit.column)
    if not isinstance(result, dict):
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.column: {limit.column!r} is not assessed (evaluate.protected "
                          f"lists {', '.join(sorted(columns)) or 'none'})")
    gaps = result.get("gaps") or {}
    if limit.metric not in gaps:
        return GateResult(name, key, rule, "—", "error", True,
                          f"{key}.metric: this task does not report {limit.metric} "
                          f"(it reports {', '.join(sorted(gaps))})")
    value = gaps[limit.metric]
    if not isinstance(value, int | float):
        # Fewer than two groups large enough to judge: the gate cannot say the model is fair.
        return GateResult(name, key, rule, "—", "error", blocking,
                          f"fewer than two groups of {limit.column} have enough rows to judge "
                          f"(evaluate.min_group_size: {report.get('min_group_size')})")
    ok = value <= limit.bound if limit.kind == "max" else value >= limit.bound
    return GateResult(name, key, rule, num(value), "pass" if ok else "fail", blocking,
                      "" if ok else f"{num(value)} is {'above' if limit.kind == 'max' else 'below'}"
                                    f" {num(limit.bound)}")
